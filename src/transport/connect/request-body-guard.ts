import { fromBinary, fromJsonString, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { readAllBytes } from '@connectrpc/connect/protocol';
import { boundedMessage } from '../../domain/errors.js';

/**
 * Checks a request body before Connect decodes it.
 *
 * A call that takes exactly one message: Connect answers a body with no message UNIMPLEMENTED
 * and one that does not decode as protobuf INTERNAL, codes that blame the server (an error log
 * line, SLO burn), and quotes the decoder's error unbounded; the caller sent it, so here it is
 * INVALID_ARGUMENT with a bounded message naming the message type, as on the gRPC port
 * (single-request.ts). The body is read whole (Connect reads a unary body whole too), bounded
 * by `readMaxBytes`.
 *
 * Any enveloped body: a message flagged compressed on a request that named no encoding is
 * INVALID_ARGUMENT too, where connect-es 2.3 answers INTERNAL (docs/library-workarounds.md says
 * when this can go).
 */

export const NO_REQUEST_MESSAGE = 'the call carried no request message; this method takes one';
export const EXTRA_REQUEST_MESSAGE =
  'the call carried more than one request message; this method takes one';

/** Bit 0 of an envelope's flags: the message is compressed with the request's encoding. */
const COMPRESSED_FLAG = 0b1;

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

/**
 * The chunks of an enveloped body as they come, refusing the first message flagged compressed:
 * the request named no encoding (`encodingHeader` is absent or `identity`), so nothing could
 * decompress it. Envelope boundaries are tracked across chunks; no byte is copied.
 */
export async function* uncompressedEnvelopes(
  body: AsyncIterable<Uint8Array>,
  encodingHeader: string,
): AsyncGenerator<Uint8Array> {
  // Bytes of the current envelope still to come: header bytes (5 at a message start), then
  // the message whose length they give.
  let headerLeft = 5;
  let header = 0;
  let messageLeft = 0;
  for await (const chunk of body) {
    for (let at = 0; at < chunk.byteLength;) {
      if (messageLeft > 0) {
        const skipped = Math.min(messageLeft, chunk.byteLength - at);
        messageLeft -= skipped;
        at += skipped;
        continue;
      }
      const byte = chunk[at++] ?? 0;
      if (headerLeft === 5 && (byte & COMPRESSED_FLAG) !== 0) {
        refuse(
          `a message is flagged compressed but the request names no ${encodingHeader}: send it uncompressed (flag 0) or name its encoding`,
        );
      }
      // The length is the 4 bytes after the flags, big-endian.
      if (headerLeft < 5) header = header * 256 + byte;
      if (--headerLeft === 0) {
        messageLeft = header;
        header = 0;
        headerLeft = 5;
      }
    }
    yield chunk;
  }
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
