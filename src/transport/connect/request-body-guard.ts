import { fromBinary, fromJsonString, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { readAllBytes } from '@connectrpc/connect/protocol';
import { boundedMessage } from '../../domain/errors.js';

/**
 * Checks the request body of a call that takes exactly one message before Connect decodes it.
 * Connect answers a body with no message UNIMPLEMENTED and one that does not decode as
 * protobuf INTERNAL, codes that blame the server (an error log line, SLO burn), and quotes the
 * decoder's error unbounded; the caller sent it, so here it is INVALID_ARGUMENT with a bounded
 * message naming the message type, as on the gRPC port (single-request.ts).
 *
 * The body is read whole (Connect reads a unary body whole too), bounded by `readMaxBytes`.
 */

export const NO_REQUEST_MESSAGE = 'the call carried no request message; this method takes one';
export const EXTRA_REQUEST_MESSAGE =
  'the call carried more than one request message; this method takes one';

export interface BodyShape {
  /** gRPC, gRPC-Web and Connect streaming wrap each message in a 5-byte envelope. */
  readonly enveloped: boolean;
  readonly binary: boolean;
  /** The body is compressed as a whole (Connect unary `content-encoding`): not checked here. */
  readonly compressed: boolean;
}

export async function* guardedBody(
  body: AsyncIterable<Uint8Array>,
  method: DescMethod,
  shape: BodyShape,
  readMaxBytes: number,
): AsyncGenerator<Uint8Array> {
  const bytes = await readAllBytes(body, readMaxBytes);
  if (!shape.compressed) check(bytes, method, shape);
  yield bytes;
}

function check(bytes: Uint8Array, method: DescMethod, shape: BodyShape): void {
  if (!shape.enveloped) {
    decode(bytes, method, shape.binary);
    return;
  }
  if (bytes.byteLength === 0) refuse(NO_REQUEST_MESSAGE);
  if (bytes.byteLength < 5) refuse('the request body ends inside a message envelope');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint8(0);
  const length = view.getUint32(1);
  const end = 5 + length;
  if (end > bytes.byteLength) refuse('the request body ends inside a message envelope');
  // A second envelope that is not Connect's end-of-stream marker is a second message.
  if (end < bytes.byteLength && (view.getUint8(end) & 0b10) === 0) refuse(EXTRA_REQUEST_MESSAGE);
  // Compressed messages are decompressed (and checked) by Connect itself.
  if ((flags & 0b1) === 0) decode(bytes.subarray(5, end), method, shape.binary);
}

function decode(bytes: Uint8Array, method: DescMethod, binary: boolean): void {
  try {
    if (binary) fromBinary(method.input, bytes);
    else
      fromJsonString(method.input, new TextDecoder().decode(bytes), { ignoreUnknownFields: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    refuse(`request is not a valid ${method.input.typeName} message: ${reason}`);
  }
}

function refuse(message: string): never {
  throw new ConnectError(boundedMessage(message), Code.InvalidArgument);
}
