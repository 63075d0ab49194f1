import type { Duplex } from 'node:stream';
import * as ws from 'ws';

/**
 * WebSocket frames built once and written to many sockets. A market entry goes to every
 * subscriber of the pod as the same bytes, so its frame (header included) is built once and
 * the same buffer is written to each socket, bypassing ws's per-send framing (an options
 * object, a header buffer and a two-buffer writev per message and subscriber).
 *
 * Writing to the TCP socket under a ws `WebSocket` is sound only while ws's `Sender` never
 * holds a frame back: it queues only compressed messages and Blobs, and `/ws` negotiates no
 * permessage-deflate and sends no Blobs, so ws's own writes (close frames) reach the socket
 * at once, in call order with these. test/unit/transport/frame-wire.test.ts checks the bytes
 * against ws's and the interleaving over a real connection.
 */

/** ws's framing (public in ws, undeclared in @types/ws). */
const { Sender } = ws as unknown as {
  readonly Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean },
    ): Buffer[];
  };
};

/** RFC 6455 opcode of a binary frame. */
const BINARY = 2;

/** A whole binary message as one unmasked frame (what a server sends), header included. */
export function binaryFrame(payload: Uint8Array): Buffer {
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const [header, body] = Sender.frame(data, {
    fin: true,
    opcode: BINARY,
    mask: false,
    readOnly: true,
    rsv1: false,
  });
  if (header === undefined) throw new Error('ws built no frame header');
  return body === undefined ? header : Buffer.concat([header, body]);
}

/** What a wire uses of a ws `WebSocket`. */
export type WireSocket = Pick<ws.WebSocket, 'readyState' | 'extensions'>;

/** The TCP (or TLS) socket under a ws `WebSocket`. */
export type RawSocket = Pick<
  Duplex,
  'write' | 'writableLength' | 'writableNeedDrain' | 'once' | 'destroyed'
>;

/** Writes finished frames to the socket under one ws `WebSocket`. */
export class FrameWire {
  readonly #socket: WireSocket;
  readonly #raw: RawSocket;

  constructor(socket: WireSocket, raw: RawSocket) {
    if (socket.extensions !== '') {
      throw new Error(`frames cannot bypass ws with extensions negotiated (${socket.extensions})`);
    }
    this.#socket = socket;
    this.#raw = raw;
  }

  /** The wire of a ws server connection: ws keeps its socket in `_socket`. */
  static of(socket: WireSocket): FrameWire {
    const raw = (socket as unknown as { _socket?: RawSocket | null })._socket;
    if (raw === undefined || raw === null || typeof raw.write !== 'function') {
      throw new Error('ws keeps its socket elsewhere: FrameWire needs updating for this ws');
    }
    return new FrameWire(socket, raw);
  }

  /** Whether frames may be written: open, no close frame sent or received. */
  get open(): boolean {
    return this.#socket.readyState === ws.WebSocket.OPEN && !this.#raw.destroyed;
  }

  /** Bytes written and not yet taken by the kernel. */
  get buffered(): number {
    return this.#raw.writableLength;
  }

  /** Writes a frame; nothing once the connection is no longer open. */
  write(frame: Buffer): void {
    if (this.open) this.#raw.write(frame);
  }

  /** Writes frames of `bytes` in all, several in one write; nothing once no longer open. */
  writeAll(frames: readonly Buffer[], bytes: number): void {
    const [first] = frames;
    if (!this.open || first === undefined) return;
    this.#raw.write(frames.length === 1 ? first : Buffer.concat(frames, bytes));
  }

  /**
   * Calls `fn` once the socket has flushed what it held past its high-water mark (at once if
   * it is not past it); never if the socket is destroyed meanwhile.
   */
  whenDrained(fn: () => void): void {
    if (!this.#raw.writableNeedDrain) {
      fn();
      return;
    }
    this.#raw.once('drain', fn);
  }
}
