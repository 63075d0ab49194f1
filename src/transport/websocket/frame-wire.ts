import type { Duplex } from 'node:stream';
import * as ws from 'ws';
import { writeSoon } from './write-soon.js';

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

/**
 * Most bytes `send` holds for the end of a turn before writing them: a turn's burst reaches
 * the kernel as it comes, so the socket's backlog still measures the client alone.
 */
const SEND_CHUNK_BYTES = 16 * 1_024;

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
  'write' | 'writableLength' | 'writableNeedDrain' | 'writableHighWaterMark' | 'once' | 'destroyed'
>;

/** Writes finished frames to the socket under one ws `WebSocket`. */
export class FrameWire {
  readonly #socket: WireSocket;
  readonly #raw: RawSocket;
  /** Frames handed to `send` in this turn, written together at its end. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #flush = () => {
    this.flush();
  };

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

  /**
   * Bytes written and not yet taken by the kernel. What `send` holds for the end of the turn
   * is left out: at most SEND_CHUNK_BYTES, it says nothing about how fast the client reads.
   */
  get buffered(): number {
    return this.#raw.writableLength;
  }

  /**
   * Writes a frame at the end of this turn, in one socket write with every other frame sent
   * to this wire meanwhile: entries a log tail hands over together (a Redis read of several,
   * a publisher catching up) cost one write per client, not one each. A larger burst goes out
   * in SEND_CHUNK_BYTES writes as it comes.
   */
  send(frame: Buffer): void {
    if (this.#pendingBytes === 0) writeSoon(this.#flush);
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    if (this.#pendingBytes >= SEND_CHUNK_BYTES) this.flush();
  }

  /** Writes a frame now (after what was sent before it); nothing once no longer open. */
  write(frame: Buffer): void {
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    this.flush();
  }

  /** Writes frames of `bytes` in all now, after what was sent before them, in one write. */
  writeAll(frames: readonly Buffer[], bytes: number): void {
    for (const frame of frames) this.#pending.push(frame);
    this.#pendingBytes += bytes;
    this.flush();
  }

  /**
   * Writes what was sent in this turn now (before a close frame, say). Nothing is written once
   * the connection is no longer open: a close frame went first.
   */
  flush(): void {
    const frames = this.#pending;
    const [first] = frames;
    if (first === undefined) return;
    const bytes = this.#pendingBytes;
    this.#pendingBytes = 0;
    // Concatenated (a copy) before the array is reused: the socket may hold the buffer.
    const data = frames.length === 1 ? first : Buffer.concat(frames, bytes);
    frames.length = 0;
    if (this.open) this.#raw.write(data);
  }

  /** The socket's own high-water mark: past it a write asks for a 'drain' (`whenDrained`). */
  get socketHighWater(): number {
    return this.#raw.writableHighWaterMark;
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
