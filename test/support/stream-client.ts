import { Metadata, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import pg from 'pg';
import { bookChecksum, type LevelView } from '../../src/engine/index.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import type { SubscribeResponse } from '../../src/gen/trading/v1/market_data_pb.js';
import type { OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import { grpcClient, unary } from './grpc.js';

type StreamMessage = SubscribeResponse | OpenStreamResponse;

/** Everything a server stream sent, and how it ended. */
export class StreamRecorder<T extends StreamMessage> {
  /** Messages of the streams, in arrival order. */
  readonly messages: T[] = [];
  /** `Reconnect` messages (they belong to no stream), with when they arrived. */
  readonly reconnects: { delayMs: number; reason: string; at: number }[] = [];
  error: (Error & { code?: number; metadata?: Metadata }) | undefined;
  endedAt: number | undefined;
  ended = false;

  constructor(readonly call: ClientReadableStream<T>) {
    call.on('data', (message: T) => {
      if (message.event.case === 'reconnect') {
        const { delayMs, reason } = message.event.value;
        this.reconnects.push({ delayMs, reason, at: performance.now() });
      } else {
        this.messages.push(message);
      }
    });
    call.on('error', (error: Error & { code?: number; metadata?: Metadata }) => {
      this.error = error;
      this.endedAt ??= performance.now();
    });
    call.on('end', () => {
      this.ended = true;
      this.endedAt ??= performance.now();
    });
  }

  of(stream: string): T[] {
    return this.messages.filter((m) => m.stream === stream);
  }

  /** The last (epoch, seq) seen of each stream: what a client sends back to resume. */
  positions(): { stream: string; epoch: bigint; seq: bigint }[] {
    const last = new Map<string, T>();
    for (const message of this.messages) last.set(message.stream, message);
    return [...last.values()].map((m) => ({ stream: m.stream, epoch: m.epoch, seq: m.seq }));
  }

  async until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.error !== undefined) throw this.error;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

export function subscribe<T extends StreamMessage>(
  client: Client,
  method: 'subscribe' | 'openStream',
  request: unknown,
  metadata = new Metadata(),
): StreamRecorder<T> {
  const fn = (client as unknown as Record<string, (r: unknown, m: Metadata) => unknown>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new StreamRecorder(fn.call(client, request, metadata) as ClientReadableStream<T>);
}

/** A client-side book kept from a snapshot and deltas, as docs/protocol.md says to. */
export class ClientBook {
  readonly bids = new Map<bigint, bigint>();
  readonly asks = new Map<bigint, bigint>();
  seq = 0n;

  /** Applies a book stream message; resolves to whether its checksum matched. */
  apply(message: SubscribeResponse): boolean {
    const { event } = message;
    if (event.case === 'snapshot') {
      this.bids.clear();
      this.asks.clear();
      for (const l of event.value.bids) this.bids.set(l.price, l.quantity);
      for (const l of event.value.asks) this.asks.set(l.price, l.quantity);
      this.seq = message.seq;
      return this.checksum() === event.value.checksum;
    }
    if (event.case === 'delta') {
      if (message.seq !== this.seq + 1n) throw new Error(`delta ${message.seq} after ${this.seq}`);
      for (const [side, levels] of [
        [this.bids, event.value.bids],
        [this.asks, event.value.asks],
      ] as const) {
        for (const l of levels) {
          if (l.quantity === 0n) side.delete(l.price);
          else side.set(l.price, l.quantity);
        }
      }
      this.seq = message.seq;
      return this.checksum() === event.value.checksum;
    }
    return true;
  }

  levels(): { bids: LevelView[]; asks: LevelView[] } {
    const list = (side: Map<bigint, bigint>, descending: boolean) =>
      [...side]
        .map(([price, quantity]) => ({ price: Number(price), quantity: Number(quantity) }))
        .sort((a, b) => (descending ? b.price - a.price : a.price - b.price));
    return { bids: list(this.bids, true), asks: list(this.asks, false) };
  }

  checksum(): number {
    const { bids, asks } = this.levels();
    return bookChecksum({ bids: bids.slice(0, 10), asks: asks.slice(0, 10) });
  }
}

/** Registers and logs in a user; resolves to its id and bearer metadata. */
export async function signUp(
  address: string,
  username: string,
): Promise<{ userId: string; auth: Metadata }> {
  const client = grpcClient(address, AuthService);
  try {
    const credentials = { username, password: 'correct horse battery staple' };
    await unary(client, 'register', credentials);
    const login = await unary<{ userId: string; tokens: { accessToken: string } }>(
      client,
      'login',
      credentials,
    );
    if (login.response === undefined) throw login.error ?? new Error('login failed');
    const auth = new Metadata();
    auth.set('authorization', `Bearer ${login.response.tokens.accessToken}`);
    return { userId: login.response.userId, auth };
  } finally {
    client.close();
  }
}

/** The last seq the engine gave `stream` in `schema`: where every subscriber must end up. */
export async function streamHead(
  databaseUrl: string,
  schema: string,
  stream: string,
): Promise<bigint> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ seq: string }>(
      `SELECT seq::text FROM "${schema}".stream_heads WHERE stream = $1`,
      [stream],
    );
    return BigInt(rows[0]?.seq ?? 0);
  } finally {
    await db.end();
  }
}
