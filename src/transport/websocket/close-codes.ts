import { isDomainError } from '../../domain/errors.js';
import { SHUTDOWN_DEPENDENCY } from '../../shared/grpc/error-metadata.js';

/**
 * Why the server closes a WebSocket, as a close code and a bounded name (the `reason` label of
 * `stream_websocket_closed_total`). Codes 4000-4999 are the application's own (RFC 6455
 * 7.4.2); they echo the HTTP status of the same refusal, as graphql-ws does. docs/protocol.md
 * lists them.
 */
export const CLOSE_CODES = {
  /** The client closed, or the connection ended without a close frame. */
  client: 1000,
  /** The server is shutting down or draining: reconnect (after a Reconnect frame's delay). */
  going_away: 1001,
  /** A frame larger than WS_MAX_PAYLOAD_BYTES (ws enforces it while reading). */
  message_too_big: 1009,
  /** A binary frame that is not a ClientFrame. */
  malformed_frame: 4400,
  /** The access token expired without a fresh one, or the one on the upgrade was refused. */
  unauthenticated: 4401,
  /** A text frame: the protocol is binary protobuf only. */
  text_frame: 4415,
  /** A ClientFrame with no frame this server knows (empty, or from a newer protocol). */
  unknown_frame: 4422,
  /** More frames than WS_FRAMES_PER_S / WS_FRAMES_BURST allow. */
  frame_flood: 4429,
  /** More connections from one address than WS_MAX_CONNECTIONS_PER_IP. */
  too_many_connections: 4430,
  /** A server fault: reconnect and resume. */
  internal: 4500,
  /** A dependency (the stream log) failed, or no heartbeat was answered: reconnect, resume. */
  unavailable: 4503,
  /** The client fell STREAM_SEND_QUEUE_MAX_BYTES or _MAX messages behind: reconnect, resume. */
  slow_consumer: 4509,
} as const;

export type CloseName = keyof typeof CLOSE_CODES;

/**
 * How a stream that failed while running closes its connection: a drain's end is a going
 * away (after its Reconnect), the rest by the error's code.
 */
export function closeNameOf(error: unknown): CloseName {
  if (!isDomainError(error)) return 'internal';
  if (error.dependency === SHUTDOWN_DEPENDENCY) return 'going_away';
  switch (error.code) {
    case 'resource_exhausted':
      return 'slow_consumer';
    case 'unavailable':
      return 'unavailable';
    case 'unauthenticated':
      return 'unauthenticated';
    default:
      return 'internal';
  }
}

/** Reasons that say what to do on this transport, where the gateway's name unary RPCs. */
export const CLOSE_REASONS: Partial<Record<CloseName, string>> = {
  unauthenticated:
    'access token expired: send an authenticate frame with a fresh token before it expires',
  going_away: 'server shutting down: reconnect and resume',
};

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 5.5: 125 less the code). */
export function closeReasonText(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  if (bytes.length <= 123) return reason;
  // Cut on a character boundary: decoding a cut multi-byte sequence would add U+FFFD.
  let text = bytes.subarray(0, 120).toString('utf8');
  while (Buffer.byteLength(`${text}…`) > 123) text = text.slice(0, -1);
  return `${text}…`;
}
