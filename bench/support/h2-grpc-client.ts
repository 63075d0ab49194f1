import {
  connect,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';

export interface UnaryAnswer {
  /** grpc-status: 0 is OK. */
  readonly status: number;
  readonly message: string;
  /** The response message (protobuf bytes), empty when the call failed. */
  readonly body: Buffer;
}

/**
 * A minimal gRPC client over Node's own HTTP/2: one POST per call with a length-prefixed
 * message, the status from the trailers. A load generator, not an SDK: what `ghz` or `h2load`
 * would send, at a fraction of a full client's CPU per call, so that on a shared machine the
 * load generator leaves the cores to the server under test. No retries, deadlines or
 * compression.
 */
export class H2GrpcClient {
  readonly #session: ClientHttp2Session;

  constructor(address: string) {
    this.#session = connect(`http://${address}`);
    this.#session.on('error', () => undefined); // surfaced per call, as stream errors
  }

  unary(path: string, message: Uint8Array, authorization: string): Promise<UnaryAnswer> {
    return new Promise((resolve, reject) => {
      const stream = this.#session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization,
      });
      const chunks: Buffer[] = [];
      let status = -1;
      let detail = '';
      const readStatus = (headers: IncomingHttpHeaders) => {
        const value = headers['grpc-status'];
        if (value === undefined) return;
        status = Number(value);
        detail = decodeURIComponent(String(headers['grpc-message'] ?? ''));
      };
      // A failed call may answer with headers only ("trailers-only"), status included.
      stream.on('response', readStatus);
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => {
        const data = Buffer.concat(chunks);
        resolve({ status, message: detail, body: status === 0 ? data.subarray(5) : data });
      });
      const frame = Buffer.allocUnsafe(5 + message.length);
      frame.writeUInt8(0, 0); // not compressed
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.end(frame);
    });
  }

  /** Opens a bidirectional streaming call; see `H2GrpcStream`. */
  stream(path: string, authorization: string): H2GrpcStream {
    return new H2GrpcStream(
      this.#session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization,
      }),
    );
  }

  close(): void {
    this.#session.close();
  }
}

/**
 * One streaming call: `send` writes a length-prefixed message, `onMessage` gets each response
 * message as it arrives (frames reassembled across DATA chunks), `closed` the final status.
 */
export class H2GrpcStream {
  readonly closed: Promise<{ status: number; message: string }>;
  #onMessage: (message: Buffer) => void = () => undefined;
  #pending: Buffer = Buffer.alloc(0);

  constructor(private readonly stream: ClientHttp2Stream) {
    this.closed = new Promise((resolve) => {
      let status = -1;
      let message = '';
      const readStatus = (headers: IncomingHttpHeaders) => {
        const value = headers['grpc-status'];
        if (value === undefined) return;
        status = Number(value);
        message = decodeURIComponent(String(headers['grpc-message'] ?? ''));
      };
      stream.on('response', readStatus);
      stream.on('trailers', readStatus);
      stream.on('error', () => undefined); // the status (or its absence) says it
      stream.on('close', () => {
        resolve({ status, message });
      });
    });
    stream.on('data', (chunk: Buffer) => {
      this.#read(chunk);
    });
  }

  onMessage(listener: (message: Buffer) => void): void {
    this.#onMessage = listener;
  }

  send(message: Uint8Array): void {
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame.writeUInt8(0, 0); // not compressed
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  end(): void {
    this.stream.end();
  }

  #read(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (data.length < 5 + length) break;
      this.#onMessage(data.subarray(5, 5 + length));
      data = data.subarray(5 + length);
    }
    this.#pending = data;
  }
}
