import { WebSocket } from 'ws';
import { closeReasonText } from './close-codes.js';

/**
 * The `WebSocket` class the `/ws` server builds its connections with (ws's `WebSocket` server
 * option): ws's own, except that a close for a framing error carries a reason. ws 8.23 closes
 * such a connection (1002 bad opcode, RSV bits or masking, 1007 invalid UTF-8, 1008 too many
 * fragments, 1009 too big) with the code alone, then emits the error that says what was wrong
 * (receiverOnError in ws/lib/websocket.js). Here that close waits for the error, emitted in
 * the same tick, and sends its message as the reason (docs/library-workarounds.md says when
 * this can go).
 */

/** The codes ws closes with when a client's frames break RFC 6455 or the payload limit. */
const FRAMING_CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [1002, 'protocol error: a frame breaks RFC 6455'],
  [1007, 'invalid UTF-8 in a text frame or close reason'],
  [1008, 'too many message fragments'],
  [1009, 'message too big'],
]);

export function framingErrorReasons(maxPayloadBytes: number): typeof WebSocket {
  return class FramingErrorReasons extends WebSocket {
    /** The code of a framing-error close waiting for its error. */
    #pendingCode: number | undefined;

    override close(code?: number, data?: string | Buffer): void {
      const framingError =
        code !== undefined && data === undefined && FRAMING_CLOSE_CODES.has(code);
      if (!framingError || this.readyState !== WebSocket.OPEN || this.#pendingCode !== undefined) {
        super.close(code, data);
        return;
      }
      this.#pendingCode = code;
      // ws emits the error right after this call; should it not, close all the same.
      process.nextTick(() => {
        this.#closeForError(undefined);
      });
    }

    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'error') this.#closeForError(args[0]);
      return super.emit(event, ...args);
    }

    #closeForError(error: unknown): void {
      const code = this.#pendingCode;
      if (code === undefined) return;
      this.#pendingCode = undefined;
      super.close(code, closeReasonText(reasonOf(code, error, maxPayloadBytes)));
    }
  };
}

function reasonOf(code: number, error: unknown, maxPayloadBytes: number): string {
  if (!(error instanceof Error)) return FRAMING_CLOSE_CODES.get(code) ?? 'protocol error';
  // ws says "Max payload size exceeded"; the client needs the limit.
  if ((error as { code?: unknown }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return `a message of more than ${maxPayloadBytes} bytes`;
  }
  return error.message;
}
