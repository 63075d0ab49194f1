import { ConnectError } from '@connectrpc/connect';
import { Metadata, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import pg from 'pg';
import { bookChecksum, type LevelView } from '../../src/engine/index.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import type { SubscribeResponse } from '../../src/gen/trading/v1/market_data_pb.js';
import type { OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import { grpcClient, unary } from './grpc.js';

type StreamMessage = SubscribeResponse | OpenStreamResponse;

/** Everything a server stream sent, and how it ended, whichever client library read it. */
abstract class RecordedStream<T extends StreamMessage, E extends Error & { code?: number }> {
  /** Messages of the streams, in arrival order. */
  readonly messages: T[] = [];
  /** `Reconnect` messages (they belong to no stream), with when they arrived. */
  readonly reconnects: { delayMs: number; reason: string; at: number }[] = [];
  error: E | undefined;
  endedAt: number | undefined;
  ended = false;

  protected receive(message: T): void {
    if (message.event.case === 'reconnect') {
      const { delayMs, reason } = message.event.value;
      this.reconnects.push({ delayMs, reason, at: performance.now() });
    } else {
      this.messages.push(message);
    }
  }

  protected fail(error: E): void {
    this.error = error;
    this.endedAt ??= performance.now();
  }

  protected finish(): void {
    this.ended = true;
    this.endedAt ??= performance.now();
  }

  of(stream: string): T[] {
    return this.messages.filter((m) => m.stream === stream);
  }

  /** The last (epoch, seq) seen of each stream: what a client sends back to resume. */
  positions(): { stream: string; epoch: bigint; seq: bigint }[] {
    const last = new Map<string, T>();
    for (const message of this.messages) {
      if (message.stream !== '') last.set(message.stream, message);
    }
    return [...last.values()].map((m) => ({ stream: m.stream, epoch: m.epoch, seq: m.seq }));
  }

  /** Waits for `condition`; fails at once if the stream failed first. */
  until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return until(
      () => {
        if (condition()) return true;
        if (this.error !== undefined) throw this.error;
        return false;
      },
      what,
      timeoutMs,
    );
  }
}

/** Polls `condition` until it holds (for what a test cannot await), failing after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A server stream read with grpc-js. */
export class StreamRecorder<T extends StreamMessage> extends RecordedStream<
  T,
  Error & { code?: number; metadata?: Metadata }
> {
  constructor(readonly call: ClientReadableStream<T>) {
    super();
    call.on('data', (message: T) => {
      this.receive(message);
    });
    call.on('error', (error: Error & { code?: number; metadata?: Metadata }) => {
      this.fail(error);
    });
    call.on('end', () => {
      this.finish();
    });
  }
}

/**
 * A server stream read with a Connect client, over any transport (gRPC, gRPC-Web, Connect, or
 * the SDK's WebSocket); `cancel` aborts the call.
 */
export class ConnectStreamRecorder<T extends StreamMessage> extends RecordedStream<
  T,
  ConnectError
> {
  readonly openedAt = performance.now();
  readonly #abort = new AbortController();

  constructor(open: (signal: AbortSignal) => AsyncIterable<T>) {
    super();
    void this.#read(open(this.#abort.signal));
  }

  cancel(): void {
    this.#abort.abort();
  }

  async #read(messages: AsyncIterable<T>): Promise<void> {
    try {
      for await (const message of messages) this.receive(message);
      this.finish();
    } catch (error) {
      this.fail(ConnectError.from(error));
    }
  }
}

/**
 * A server stream that another reader consumes (a client under test): `tap` records the
 * messages as they pass through, and how the stream ended, failed, or was left by its reader.
 */
export class TappedStream<T extends StreamMessage> extends RecordedStream<T, ConnectError> {
  readonly openedAt = performance.now();

  /** Records a call that failed before it had a response. */
  refused(error: unknown): void {
    this.fail(ConnectError.from(error));
  }

  /** The messages of the stream, recorded; `M` is `T` as the generic Transport types it. */
  async *tap<M>(messages: AsyncIterable<M>): AsyncGenerator<M> {
    try {
      for await (const message of messages) {
        this.receive(message as unknown as T);
        yield message;
      }
      this.finish();
    } catch (error) {
      this.fail(ConnectError.from(error));
      throw error;
    } finally {
      // The reader stopped reading (it moved on): the stream is over for it.
      if (this.endedAt === undefined) this.finish();
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
      // A conflated delta stands for first_seq..seq and follows first_seq - 1.
      const first = event.value.firstSeq === 0n ? message.seq : event.value.firstSeq;
      if (first !== this.seq + 1n) {
        throw new Error(`delta ${first}..${message.seq} after ${this.seq}`);
      }
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

/** The password `signUp` gives every user. */
export const SIGN_UP_PASSWORD = 'correct horse battery staple';

/** Registers and logs in a user; resolves to its id and bearer metadata. */
export async function signUp(
  address: string,
  username: string,
): Promise<{ userId: string; auth: Metadata }> {
  const client = grpcClient(address, AuthService);
  try {
    const credentials = { username, password: SIGN_UP_PASSWORD };
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
