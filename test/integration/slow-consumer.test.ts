import assert from 'node:assert/strict';
import {
  subscribe as subscribeChannel,
  unsubscribe as unsubscribeChannel,
} from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { status, type Client, type Metadata } from '@grpc/grpc-js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { sample, startTestApp, TEST_DATABASE_URL, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { ClientBook, signUp, streamHead, subscribe, until } from '../support/stream-client.js';
import { WsClient } from '../support/ws-client.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';
/** Small send-queue limits, so a stalled reader reaches both in a few hundred orders. */
const CONFLATE_BYTES = 4_096;
const MAX_BYTES = 32_768;
/**
 * What /ws lets a socket hold before its writer waits: the smallest allowed, so a stalled socket
 * backs up into the send queue after a few frames rather than the default 1 MiB.
 */
const HIGH_WATER_BYTES = 16_384;
/** What a stalled /ws socket may hold: the high-water mark plus one write. */
const SOCKET_BOUND = HIGH_WATER_BYTES + 64 * 1_024;

/** A stream reader the test can stop and start. */
interface Reader {
  of(stream: string): SubscribeResponse[];
  pause(): void;
  resume(): void;
  readonly error: (Error & { code?: number }) | undefined;
  readonly ended: boolean;
}

/**
 * A Connect client's stream read only while not paused: an iterator nobody pulls leaves the
 * HTTP/2 stream unread, so flow control backs up to the server.
 */
class PulledStream implements Reader {
  readonly messages: SubscribeResponse[] = [];
  error: ConnectError | undefined;
  ended = false;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  constructor(messages: AsyncIterable<SubscribeResponse>) {
    void this.#read(messages[Symbol.asyncIterator]());
  }

  of(stream: string): SubscribeResponse[] {
    return this.messages.filter((m) => m.stream === stream);
  }

  pause(): void {
    this.#gate ??= new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  resume(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async #read(messages: AsyncIterator<SubscribeResponse>): Promise<void> {
    try {
      for (;;) {
        if (this.#gate !== undefined) await this.#gate;
        const next = await messages.next();
        if (next.done === true) break;
        this.messages.push(next.value);
      }
      this.ended = true;
    } catch (error) {
      this.error = ConnectError.from(error);
    }
  }
}

const tokenOf = (auth: Metadata) => String(auth.get('authorization')[0]).replace(/^Bearer /, '');

/**
 * Slow consumers against a real server: a client that stops reading while the
 * engine publishes is first conflated (past STREAM_SEND_QUEUE_CONFLATE_BYTES), then cut off
 * with a reason it can act on (past STREAM_SEND_QUEUE_MAX_BYTES), while a healthy subscriber
 * on the same pod gets every message, contiguous and never conflated. Heartbeats are pushed
 * out of the way so that only the stall decides.
 */
describe('slow consumers: a stalled reader is conflated then cut; others miss nothing', () => {
  let app: TestApp;
  let orders: Client;
  let maker: Metadata;
  let taker: { userId: string; auth: Metadata };
  const clients: Client[] = [];
  const sockets: WsClient[] = [];
  let placed = 0;

  before(async () => {
    app = await startTestApp({
      STREAM_SEND_QUEUE_CONFLATE_BYTES: String(CONFLATE_BYTES),
      STREAM_SEND_QUEUE_MAX_BYTES: String(MAX_BYTES),
      STREAM_CONFLATE_INTERVAL_MS: '50',
      WS_SEND_HIGH_WATER_BYTES: String(HIGH_WATER_BYTES),
      STREAM_HEARTBEAT_INTERVAL_MS: '300000',
      STREAM_IDLE_TIMEOUT_MS: '600000',
      USER_RATE_PER_S: '1000000',
      USER_RATE_BURST: '1000000',
      AUTH_DEMO_BALANCES: 'USD=1000000000000000,BTC=1000000000000000',
    });
    orders = grpcClient(app.grpcAddress, OrderService);
    ({ auth: maker } = await signUp(app.grpcAddress, 'slow-maker'));
    taker = await signUp(app.grpcAddress, 'slow-taker');
    // A resting book, so the checksums cover more than the traded level.
    for (let i = 0; i < 12; i++) await place(maker, Side.BUY, 60_000n + BigInt(i));
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    for (const made of clients) made.close();
    orders.close();
    await app.stop();
  });

  const place = async (auth: Metadata, side: Side, price: bigint) => {
    const { error } = await unary(
      orders,
      'placeOrder',
      placeRequest(`s${++placed}`, { side, price, quantity: 1n }),
      auth,
    );
    assert.equal(error, null);
  };
  /** Rounds of a resting sell and a buy taking it: two book deltas, a trade, a ticker. */
  const rounds = async (count: number) => {
    const workers = 8;
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        for (let i = worker; i < count; i += workers) {
          const price = 70_000n + BigInt(i % 16);
          await place(maker, Side.SELL, price);
          await place(taker.auth, Side.BUY, price);
        }
      }),
    );
  };
  const metrics = async () => {
    const text = await app.registry.metrics();
    return {
      conflated: sample(text, 'stream_conflated_messages_total', { reason: 'queue' }) ?? 0,
      cut: sample(text, 'stream_slow_consumer_disconnects_total', {}) ?? 0,
      queued: sample(text, 'stream_send_queue_bytes', {}) ?? 0,
    };
  };
  /** Publishes until `condition` holds; every batch checks `during` first. */
  const publishUntil = async (
    condition: () => boolean | Promise<boolean>,
    what: string,
    during: () => void = () => undefined,
  ) => {
    const started = placed;
    while (!(await condition())) {
      during();
      if (placed - started > 120_000)
        throw new Error(`no ${what} after ${placed - started} orders`);
      await rounds(16);
    }
    return placed - started;
  };
  /** Whether the connection of `sessionId` logged that it started conflating / was cut. */
  const logged = (msg: string, sessionId: string | undefined) =>
    app.logs.lines.findIndex((line) => line.msg === msg && line.session_id === sessionId);
  const CONFLATING = 'stream send queue full; conflating';
  const CUT = 'stream client too slow; disconnected';
  /** Waits (a few seconds at most) for `condition`; the assertions after it say what failed. */
  const settled = async (condition: () => Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await condition()); i++) await sleep(20);
  };
  const head = (stream: string) =>
    streamHead(TEST_DATABASE_URL, app.config.postgres.schema ?? '', stream);

  /** Contiguous seqs from the first message on: no gap, no duplicate. */
  const assertContiguous = (messages: readonly { seq: bigint }[], what: string) => {
    for (let i = 1; i < messages.length; i++) {
      const [prev, next] = [messages[i - 1]?.seq ?? 0n, messages[i]?.seq ?? 0n];
      assert.equal(next, prev + 1n, `${what}: ${next} after ${prev}`);
    }
  };
  /** Applies a book stream's messages; fails on a gap or a checksum that does not hold. */
  const replay = (messages: readonly SubscribeResponse[], what: string) => {
    const book = new ClientBook();
    messages.forEach((message, i) => {
      assert.ok(book.apply(message), `${what}: checksum of message ${i} (seq ${message.seq})`);
    });
    return book;
  };
  const conflatedOf = (messages: readonly SubscribeResponse[]) =>
    messages.filter((m) => m.event.case === 'delta' && m.event.value.firstSeq !== 0n);

  /** The stalled connection was conflated before it was cut; the one that read again never was cut. */
  const assertConflatedThenCut = (stalled?: string, resumed?: string) => {
    const [conflating, cut] = [logged(CONFLATING, stalled), logged(CUT, stalled)];
    assert.ok(
      conflating >= 0 && cut > conflating,
      `conflating at line ${conflating}, cut at ${cut}`,
    );
    assert.equal(logged(CUT, resumed), -1);
  };

  const engineBook = async () => {
    const market = grpcClient(app.grpcAddress, MarketDataService);
    clients.push(market);
    const { response } = await unary<{ book: { seq: bigint; checksum: number } }>(
      market,
      'getOrderBook',
      { symbol: 'BTC-USD' },
    );
    assert.ok(response !== undefined);
    return response.book;
  };

  /**
   * Over HTTP/2 (grpc-js, or a Connect client): a healthy reader, one that stalls and reads
   * again once conflated, one that stalls until it is cut.
   */
  const stallOverHttp2 = async (open: () => Reader) => {
    const healthy = open();
    const resumes = open();
    const stalls = open();
    for (const stream of [healthy, resumes, stalls]) {
      await until(() => stream.of(BOOK).length > 0, 'the snapshot');
    }
    const before = await metrics();
    // The client stops reading the HTTP/2 stream once its buffer is full: flow control backs up.
    resumes.pause();
    stalls.pause();

    const [resumesSession, stallsSession] = [resumes, stalls].map((s) => s.of(BOOK)[0]?.sessionId);
    // The log line names the connection: the one that will read again is conflating.
    await publishUntil(() => logged(CONFLATING, resumesSession) >= 0, 'conflation');
    assert.equal((await metrics()).cut, before.cut, 'cut before the second limit');
    resumes.resume();
    await publishUntil(async () => (await metrics()).cut > before.cut, 'disconnect');
    stalls.resume();
    await until(() => stalls.error !== undefined || stalls.ended, 'the cut', 30_000);
    assert.equal(stalls.error?.code, status.RESOURCE_EXHAUSTED, String(stalls.error));
    assert.match(stalls.error.message, /behind.*reconnect and resume/);

    const [bookHead, tradesHead] = [await head(BOOK), await head(TRADES)];
    for (const stream of [healthy, resumes]) {
      await until(
        () =>
          stream.of(BOOK).at(-1)?.seq === bookHead && stream.of(TRADES).at(-1)?.seq === tradesHead,
        `book seq ${bookHead}, trades seq ${tradesHead}`,
        60_000,
      );
    }
    const final = await engineBook();
    await settled(async () => (await metrics()).queued === 0);
    const after = await metrics();

    // The healthy subscriber: every delta one by one, every trade, never cut.
    assert.equal(healthy.error, undefined);
    assert.equal(conflatedOf(healthy.of(BOOK)).length, 0, 'healthy never conflated');
    assertContiguous(healthy.of(BOOK), 'healthy book');
    assertContiguous(healthy.of(TRADES).slice(1), 'healthy trades');
    assert.equal(replay(healthy.of(BOOK), 'healthy').checksum(), final.checksum);

    // The one that read again: conflated deltas that name their range, the book still exact,
    // and its trades all there.
    assert.equal(resumes.error, undefined);
    const folded = conflatedOf(resumes.of(BOOK));
    assert.ok(folded.length > 0, 'the stalled reader got conflated deltas');
    assert.ok(folded.every((m) => m.event.case === 'delta' && m.seq > m.event.value.firstSeq));
    const resumed = replay(resumes.of(BOOK), 'resumed');
    assert.equal(resumed.seq, final.seq);
    assert.equal(resumed.checksum(), final.checksum);
    assertContiguous(resumes.of(TRADES).slice(1), 'resumed trades');

    // The one cut: what it got before the cut is still a sound book.
    replay(stalls.of(BOOK), 'cut');
    assertContiguous(stalls.of(TRADES).slice(1), 'cut trades');

    assert.ok(after.conflated > before.conflated);
    assert.equal(after.cut, before.cut + 1);
    assert.equal(after.queued, 0, 'stream_send_queue_bytes back to 0');
    assertConflatedThenCut(stallsSession, resumesSession);
  };

  test('native gRPC: conflated past the first limit, RESOURCE_EXHAUSTED past the second', async () => {
    const market = grpcClient(app.grpcAddress, MarketDataService);
    clients.push(market);
    await stallOverHttp2(() => {
      const stream = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
      return Object.assign(stream, {
        pause: () => stream.call.pause(),
        resume: () => stream.call.resume(),
      });
    });
  });

  for (const protocol of ['connect', 'grpc-web'] as const) {
    test(`${protocol} over HTTP/2: conflated, then resource_exhausted`, async () => {
      const make = protocol === 'connect' ? createConnectTransport : createGrpcWebTransport;
      const market = createClient(
        MarketDataService,
        make({ baseUrl: app.httpUrl, httpVersion: '2' }),
      );
      const aborts: AbortController[] = [];
      try {
        await stallOverHttp2(() => {
          const abort = new AbortController();
          aborts.push(abort);
          return new PulledStream(
            market.subscribe({ symbols: ['BTC-USD'] }, { signal: abort.signal }),
          );
        });
      } finally {
        for (const abort of aborts) abort.abort();
      }
    });
  }

  test('/ws: conflated past the first limit, closed 4509 slow_consumer past the second; the socket stays bounded', async () => {
    // The server side of every TCP connection, to watch what a stalled socket holds.
    const serverSockets: Socket[] = [];
    const onSocket = (message: unknown) => {
      serverSockets.push((message as { socket: Socket }).socket);
    };
    subscribeChannel('net.server.socket', onSocket);
    let socketHeld = 0;
    const watchSockets = () => {
      for (const socket of serverSockets) {
        if (!socket.destroyed) socketHeld = Math.max(socketHeld, socket.writableLength);
      }
    };
    /** Between batches: fails at once when a stalled socket holds more than /ws allows. */
    const socketBounded = () => {
      watchSockets();
      assert.ok(socketHeld <= SOCKET_BOUND, `a stalled socket held ${socketHeld} bytes`);
    };
    const watcher = setInterval(watchSockets, 5);
    try {
      const connect = async () => {
        const client = await WsClient.connect(app.httpUrl);
        sockets.push(client);
        client.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
        return client;
      };
      const healthy = await connect();
      const resumes = await connect();
      const stalls = await connect();
      // The one that reads again also holds the taker's private stream: never conflated.
      resumes.send({
        frame: { case: 'authenticate', value: { accessToken: tokenOf(taker.auth) } },
      });
      resumes.send({ frame: { case: 'openStream', value: {} } });
      for (const client of [healthy, resumes, stalls]) {
        await client.until(() => client.market(BOOK).length > 0, 'the snapshot');
      }
      const own = `orders.${taker.userId}`;
      await resumes.until(() => resumes.user(own).length > 0, 'the private stream');
      const before = await metrics();
      resumes.socket.pause();
      stalls.socket.pause();

      const [resumesSession, stallsSession] = [resumes, stalls].map(
        (client) => client.market(BOOK)[0]?.sessionId,
      );
      const toConflation = await publishUntil(
        () => logged(CONFLATING, resumesSession) >= 0,
        'conflation',
        socketBounded,
      );
      assert.equal((await metrics()).cut, before.cut, 'cut before the second limit');
      resumes.socket.resume();
      const toCut = await publishUntil(
        async () => (await metrics()).cut > before.cut,
        'disconnect',
        socketBounded,
      );
      stalls.socket.resume();
      const closed = await stalls.closedWith(30_000);
      assert.equal(closed.code, 4509, JSON.stringify(closed));
      assert.match(closed.reason, /behind.*reconnect and resume/);

      const [bookHead, tradesHead] = [await head(BOOK), await head(TRADES)];
      const ownHead = await head(own);
      for (const client of [healthy, resumes]) {
        await client.until(
          () =>
            client.market(BOOK).at(-1)?.seq === bookHead &&
            client.market(TRADES).at(-1)?.seq === tradesHead,
          `book seq ${bookHead}, trades seq ${tradesHead}`,
          60_000,
        );
      }
      await resumes.until(() => resumes.user(own).at(-1)?.seq === ownHead, `own seq ${ownHead}`);
      const final = await engineBook();
      await settled(async () => (await metrics()).queued === 0);
      const after = await metrics();

      assert.equal(healthy.closed, undefined);
      assert.equal(conflatedOf(healthy.market(BOOK)).length, 0, 'healthy never conflated');
      assertContiguous(healthy.market(BOOK), 'healthy book');
      assertContiguous(healthy.market(TRADES).slice(1), 'healthy trades');
      assert.equal(replay(healthy.market(BOOK), 'healthy').checksum(), final.checksum);

      assert.equal(resumes.closed, undefined);
      const folded = conflatedOf(resumes.market(BOOK));
      const seqs = resumes.market(BOOK).map((m) => m.seq);
      const gaps = seqs.filter((seq, i) => i > 0 && seq !== (seqs[i - 1] ?? 0n) + 1n);
      assert.ok(
        folded.length > 0,
        `the stalled reader got conflated deltas: ${JSON.stringify({ toConflation, toCut, socketHeld, n: seqs.length, gaps: gaps.map(String), before, after })}`,
      );
      const resumed = replay(resumes.market(BOOK), 'resumed');
      assert.equal(resumed.seq, final.seq);
      assert.equal(resumed.checksum(), final.checksum);
      assertContiguous(resumes.market(TRADES).slice(1), 'resumed trades');
      assertContiguous(resumes.user(own).slice(1), 'private stream');

      replay(stalls.market(BOOK), 'cut');
      assertContiguous(stalls.market(TRADES).slice(1), 'cut trades');

      assert.ok(after.conflated > before.conflated);
      assert.equal(after.cut, before.cut + 1);
      assert.equal(after.queued, 0, 'stream_send_queue_bytes back to 0');
      assertConflatedThenCut(stallsSession, resumesSession);
      assert.ok(socketHeld <= SOCKET_BOUND, `a stalled socket held ${socketHeld} bytes`);
      console.log(
        JSON.stringify({ ws: { toConflation, toCut, socketHeld, conflated: folded.length } }),
      );
    } finally {
      clearInterval(watcher);
      unsubscribeChannel('net.server.socket', onSocket);
    }
  });
});
