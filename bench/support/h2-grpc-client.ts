import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';

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

  close(): void {
    this.#session.close();
  }
}
