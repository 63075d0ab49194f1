import { connect as tcpConnect } from 'node:net';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { WebSocket } from 'ws';
import type { SubscribeResponse } from '../../src/gen/trading/v1/market_data_pb.js';
import type { OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import {
  ClientFrameSchema,
  ServerFrameSchema,
  type FrameError,
  type ServerFrame,
} from '../../src/gen/trading/v1/websocket_pb.js';

/**
 * A WebSocket client of `/ws` as a third party would write one: `ws`, binary frames, the
 * protobuf-es messages. Records every frame and how the connection closed.
 */
export class WsClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.frames.push(fromBinary(ServerFrameSchema, data));
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
    });
  }

  static async connect(httpUrl: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/ws`, { headers });
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => {
        resolve();
      });
      socket.once('error', reject);
    });
    return client;
  }

  send(frame: MessageInitShape<typeof ClientFrameSchema>): void {
    this.socket.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, frame)));
  }

  /** Market data messages, of one stream if named. */
  market(stream?: string): SubscribeResponse[] {
    return this.frames.flatMap((f) =>
      f.frame.case === 'market' && (stream === undefined || f.frame.value.stream === stream)
        ? [f.frame.value]
        : [],
    );
  }

  /** Private stream messages; with `stream`, only that stream's (no connection events). */
  user(stream?: string): OpenStreamResponse[] {
    return this.frames.flatMap((f) =>
      f.frame.case === 'user' && (stream === undefined || f.frame.value.stream === stream)
        ? [f.frame.value]
        : [],
    );
  }

  errors(): FrameError[] {
    return this.frames.flatMap((f) => (f.frame.case === 'error' ? [f.frame.value] : []));
  }

  acks(): number[] {
    return this.frames.flatMap((f) => (f.frame.case === 'ack' ? [f.frame.value.requestId] : []));
  }

  /** The last (epoch, seq) of each stream among `messages`: what a client sends to resume. */
  static positions(
    messages: readonly (SubscribeResponse | OpenStreamResponse)[],
  ): { stream: string; epoch: bigint; seq: bigint }[] {
    const last = new Map<string, SubscribeResponse | OpenStreamResponse>();
    // Heartbeats, quality changes and reconnects belong to no stream (stream "").
    for (const message of messages) if (message.stream !== '') last.set(message.stream, message);
    return [...last.values()].map((m) => ({ stream: m.stream, epoch: m.epoch, seq: m.seq }));
  }

  async until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; closed: ${JSON.stringify(this.closed)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Resolves with the close code and reason once the server has closed the connection. */
  async closedWith(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== undefined, 'the close', timeoutMs);
    return this.closed ?? { code: 0, reason: '' };
  }

  close(): void {
    this.socket.close();
  }
}

/** A client frame as the wire carries it: `first` is FIN, RSV and opcode; masked unless told. */
export function rawFrame(first: number, payload: Uint8Array, masked = true): Buffer {
  const head = [first, (masked ? 0x80 : 0) | payload.length];
  if (payload.length > 125) throw new Error('rawFrame writes short frames only');
  const key = [0x12, 0x34, 0x56, 0x78];
  const body = payload.map((byte, i) => (masked ? byte ^ (key[i % 4] ?? 0) : byte));
  return Buffer.concat([Buffer.from(head), Buffer.from(masked ? key : []), body]);
}

/**
 * Upgrades a bare TCP connection to `/ws`, writes `bytes` (what no WebSocket library would
 * send) and resolves with the close frame the server answers with.
 */
export function closeFrameAfter(
  httpPort: number,
  bytes: Uint8Array,
): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(httpPort, '127.0.0.1');
    let received = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close frame; received ${received.toString('latin1')}`));
    }, 10_000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (!upgraded && end >= 0) {
        upgraded = received.subarray(0, 12).toString() === 'HTTP/1.1 101';
        if (!upgraded) reject(new Error(received.toString('latin1')));
        received = received.subarray(end + 4);
        socket.write(bytes);
      }
      // A server close frame: 0x88, an unmasked length under 126, the code, the reason.
      if (upgraded && received.length >= 2 && received[0] === 0x88) {
        const length = (received[1] ?? 0) & 0x7f;
        if (received.length < 2 + length) return;
        clearTimeout(timer);
        socket.destroy();
        resolve({
          code: length >= 2 ? received.readUInt16BE(2) : 1005,
          reason: received.subarray(4, 2 + length).toString('utf8'),
        });
      }
    });
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}
