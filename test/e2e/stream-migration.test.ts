import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type Client, type Metadata } from '@grpc/grpc-js';
import pg from 'pg';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { SessionService, type OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import {
  dropRedisKeys,
  dropSchema,
  sample,
  TEST_DATABASE_URL,
  uniqueName,
} from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { deploymentEnv, spawnApp, type AppProcess } from '../support/process.js';
import { ClientBook, signUp, subscribe, type StreamRecorder } from '../support/stream-client.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';
const DRAIN_WINDOW_MS = 1_500;

type Market = StreamRecorder<SubscribeResponse>;
type Own = StreamRecorder<OpenStreamResponse>;

/**
 * Real processes sharing PostgreSQL and Redis: one ROLE=all serves the engine and the order
 * API; ROLE=stream pods serve the streams. A client follows the book, the trades and its own
 * private stream on a first stream pod while orders flow; that pod is killed (SIGTERM, then in
 * another test SIGKILL) and the client resumes on `stream-2` from its positions.
 */
describe('streams resume on another pod when theirs goes away', () => {
  const schema = uniqueName('streams_e2e');
  let dataDir: string;
  let shared: Record<string, string>;
  let engine: AppProcess;
  let pod2: AppProcess;
  const apps: AppProcess[] = [];
  const clients: Client[] = [];
  let orders: Client;
  // Fresh per test, so every fill of the trader happens while its client is subscribed.
  let trader: { userId: string; auth: Metadata };
  let dealer: { userId: string; auth: Metadata };

  const spawnStreamPod = async (name: string) => {
    const pod = await spawnApp({ ...shared, ROLE: 'stream', POD_NAME: name });
    apps.push(pod);
    await pod.waitForLog('app started', 60_000);
    return pod;
  };
  const client = (pod: AppProcess, service: typeof MarketDataService | typeof SessionService) => {
    const made = grpcClient(pod.grpcAddress, service);
    clients.push(made);
    return made;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tp-streams-'));
    shared = {
      ...deploymentEnv(schema, dataDir),
      PG_POOL_MAX: '4',
      LOG_LEVEL: 'info',
      TELEMETRY_ENABLED: 'false',
      SHUTDOWN_TIMEOUT_MS: String(DRAIN_WINDOW_MS * 3),
      STREAM_DRAIN_WINDOW_MS: String(DRAIN_WINDOW_MS),
      AUTH_DEMO_BALANCES: 'USD=100000000000,BTC=100000000000',
    };
    engine = await spawnApp({ ...shared, POD_NAME: 'engine' });
    apps.push(engine);
    await engine.waitForLog('app started', 60_000);
    pod2 = await spawnStreamPod('stream-2');
    orders = grpcClient(engine.grpcAddress, OrderService);
    clients.push(orders);
  });
  after(async () => {
    for (const made of clients) made.close();
    for (const app of apps) app.child.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    await dropSchema(TEST_DATABASE_URL, schema);
    await dropRedisKeys(`${schema}:`);
    await rm(dataDir, { recursive: true, force: true });
  });

  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]) => {
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    try {
      await db.query(`SET search_path TO "${schema}"`);
      return (await db.query<R>(sql, params)).rows;
    } finally {
      await db.end();
    }
  };
  /** The last seq the engine gave `stream`. */
  const head = async (stream: string) =>
    BigInt(
      (
        await query<{ seq: string }>('SELECT seq::text FROM stream_heads WHERE stream = $1', [
          stream,
        ])
      )[0]?.seq ?? 0,
    );
  /** Trade ids of every fill of the trader's orders, from the database. */
  const traderTradeIds = async () =>
    (
      await query<{ trade_id: string }>(
        `SELECT f.trade_id::text FROM fills f JOIN orders o
           ON o.id = f.maker_order_id OR o.id = f.taker_order_id WHERE o.user_id = $1`,
        [trader.userId],
      )
    )
      .map((row) => row.trade_id)
      .sort();

  let placed = 0;
  const place = async (auth: Metadata, side: Side, price: bigint) => {
    const { error } = await unary(
      orders,
      'placeOrder',
      placeRequest(`e2e-${++placed}`, { side, price, quantity: 1n }),
      auth,
    );
    assert.equal(error, null);
  };
  /** The dealer quotes and the trader takes, over and over, until `stop` is called. */
  const flowOrders = () => {
    const stopped = new AbortController();
    const done = (async () => {
      for (let i = 0; !stopped.signal.aborted; i += 1) {
        await place(dealer.auth, Side.SELL, 65_000n + BigInt(i % 5));
        await place(trader.auth, Side.BUY, 65_010n);
        await place(dealer.auth, Side.BUY, 64_000n - BigInt(i % 7));
        await sleep(50);
      }
    })();
    return async () => {
      stopped.abort();
      await done;
    };
  };

  const openAll = (pod: AppProcess, resumeFrom?: { market: Market; own: Own }) => {
    const market = subscribe<SubscribeResponse>(client(pod, MarketDataService), 'subscribe', {
      symbols: ['BTC-USD'],
      sessionId: resumeFrom?.market.messages[0]?.sessionId ?? '',
      positions: resumeFrom?.market.positions() ?? [],
    });
    const own = subscribe<OpenStreamResponse>(
      client(pod, SessionService),
      'openStream',
      {
        sessionId: resumeFrom?.own.messages[0]?.sessionId ?? '',
        positions: resumeFrom?.own.positions() ?? [],
      },
      trader.auth,
    );
    return { market, own };
  };

  const migrationsOnPod2 = async () =>
    sample(await (await fetch(`${pod2.httpUrl}/metrics`)).text(), 'session_migrations_total', {
      result: 'migrated',
    }) ?? 0;

  /** Everything after the kill is the same for both signals. */
  async function killAndResume(signal: 'SIGTERM' | 'SIGKILL', podName: string) {
    const pod1 = await spawnStreamPod(podName);
    trader = await signUp(engine.grpcAddress, `${podName}-trader`);
    dealer = await signUp(engine.grpcAddress, `${podName}-dealer`);
    const migratedBefore = await migrationsOnPod2();
    const first = openAll(pod1);
    await first.market.until(
      () => first.market.of(BOOK).length > 0 && first.market.of(TRADES).length > 0,
      'the market starts',
    );
    await first.own.until(() => first.own.messages.length > 0, 'the private start');
    const stop = flowOrders();
    await first.market.until(() => first.market.of(TRADES).length >= 5, 'trades on pod 1');

    pod1.child.kill(signal);
    const ended = (recorder: Market | Own) => () => recorder.ended || recorder.error !== undefined;
    await first.market.until(ended(first.market), 'pod 1 ends the market stream', 15_000);
    await first.own.until(ended(first.own), 'pod 1 ends the private stream', 15_000);
    const second = openAll(pod2, first);
    await sleep(500); // orders keep flowing on the new pod
    await stop();

    const heads = { book: await head(BOOK), trades: await head(TRADES) };
    const ownStream = first.own.messages[0]?.stream ?? '';
    const ownHead = await head(ownStream);
    await second.market.until(
      () =>
        second.market.of(BOOK).at(-1)?.seq === heads.book &&
        second.market.of(TRADES).at(-1)?.seq === heads.trades,
      'the market streams to reach the heads',
    );
    await second.own.until(
      () => second.own.messages.at(-1)?.seq === ownHead,
      'the private stream to reach its head',
    );

    for (const [name, before, resumed] of [
      [BOOK, first.market.of(BOOK), second.market.of(BOOK)],
      [TRADES, first.market.of(TRADES), second.market.of(TRADES)],
      [ownStream, first.own.messages, second.own.messages],
    ] as const) {
      const [start, ...rest] = resumed;
      assert.equal(start?.recovered, true, `${name} recovered`);
      assert.equal(start.event.case, undefined, `${name} resumed without a snapshot`);
      assert.equal(start.seq, before.at(-1)?.seq, `${name} resumed at its position`);
      assert.equal(start.pod, 'stream-2');
      assert.ok(
        rest.every((m) => m.recovered),
        `${name}: every message of the resume says recovered`,
      );
      const seqs = [...before.slice(1), ...rest].map((m) => m.seq);
      const from = before[0]?.seq ?? 0n;
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => from + 1n + BigInt(i)),
        `${name}: contiguous, no duplicate`,
      );
    }

    const book = new ClientBook();
    for (const message of [...first.market.of(BOOK), ...second.market.of(BOOK)]) {
      assert.ok(book.apply(message), `checksum at ${message.seq}`);
    }
    const served = await unary<{
      book: {
        seq: bigint;
        checksum: number;
        bids: { price: bigint; quantity: bigint }[];
        asks: { price: bigint; quantity: bigint }[];
      };
    }>(client(engine, MarketDataService), 'getOrderBook', { symbol: 'BTC-USD' });
    assert.equal(served.response?.book.seq, book.seq);
    assert.equal(served.response.book.checksum, book.checksum());
    const levels = (list: { price: bigint; quantity: bigint }[]) =>
      list.map((l) => ({ price: Number(l.price), quantity: Number(l.quantity) }));
    assert.deepEqual(
      { bids: levels(served.response.book.bids), asks: levels(served.response.book.asks) },
      book.levels(),
    );

    const fills = [...first.own.messages, ...second.own.messages].flatMap((m) =>
      m.event.case === 'execution' ? m.event.value.fills.map((f) => f.tradeId) : [],
    );
    assert.ok(fills.length > 0, 'fills arrived');
    assert.deepEqual([...fills].sort(), await traderTradeIds(), 'every fill exactly once');
    second.market.call.cancel();
    second.own.call.cancel();
    assert.equal(await migrationsOnPod2(), migratedBefore + 2, 'both sessions migrated');
    return { first, second, pod1 };
  }

  test('SIGTERM: each stream gets a Reconnect inside the window, ends, and resumes on the other pod', async () => {
    const started = performance.now();
    const { first, pod1 } = await killAndResume('SIGTERM', 'stream-1');

    for (const drained of [first.market, first.own]) {
      const [reconnect, ...more] = drained.reconnects;
      assert.equal(more.length, 0);
      assert.ok(reconnect !== undefined, 'a Reconnect');
      assert.ok(reconnect.delayMs < DRAIN_WINDOW_MS, `delay ${reconnect.delayMs}`);
      assert.equal(drained.error?.code, status.UNAVAILABLE);
      // The stream served on until its delay had passed (timer slack allowed).
      assert.ok((drained.endedAt ?? 0) >= reconnect.at + reconnect.delayMs - 50);
    }
    assert.equal(await pod1.exited, 0);
    assert.ok(performance.now() - started < 40_000);
  });

  test('SIGKILL: no Reconnect, the connection drops, and the client resumes on the other pod all the same', async () => {
    const started = performance.now();
    const { first, pod1 } = await killAndResume('SIGKILL', 'stream-3');

    assert.deepEqual(first.market.reconnects, []);
    assert.equal(first.market.error?.code, status.UNAVAILABLE);
    assert.equal(await pod1.exited, 'SIGKILL');
    assert.ok(performance.now() - started < 40_000);
  });

  test('a resume with a wrong epoch gets a fresh snapshot (recovered false), then the entries after it', async () => {
    const market = client(pod2, MarketDataService);
    const book = await unary<{ book: { epoch: bigint; seq: bigint } }>(market, 'getOrderBook', {
      symbol: 'BTC-USD',
    });
    const epoch = book.response?.book.epoch ?? 0n;
    const [bookHead, tradesHead] = [await head(BOOK), await head(TRADES)];
    const maker = await signUp(engine.grpcAddress, 'epoch-maker');

    const stream = subscribe<SubscribeResponse>(market, 'subscribe', {
      symbols: ['BTC-USD'],
      positions: [
        { stream: BOOK, epoch: epoch + 1n, seq: 1n },
        { stream: TRADES, epoch: epoch + 1n, seq: 1n },
      ],
    });
    await stream.until(() => stream.of(TRADES).length > 0 && stream.of(BOOK).length > 0, 'starts');
    await place(maker.auth, Side.BUY, 60_000n);
    await stream.until(() => stream.of(BOOK).length > 1, 'the next delta');
    stream.call.cancel();

    const [bookStart, next] = stream.of(BOOK);
    assert.equal(bookStart?.recovered, false);
    assert.equal(bookStart.event.case, 'snapshot');
    assert.equal(bookStart.seq, bookHead);
    assert.equal(bookStart.epoch, epoch);
    assert.equal(next?.event.case, 'delta');
    assert.equal(next.seq, bookHead + 1n);
    assert.equal(next.recovered, false);
    const [tradesStart] = stream.of(TRADES);
    assert.equal(tradesStart?.recovered, false);
    assert.equal(tradesStart.event.case, undefined, 'trades start from a position, no event');
    assert.equal(tradesStart.seq, tradesHead);
  });

  test('a resume from a position with nothing new is recovered true with nothing replayed, then the next entry', async () => {
    const market = client(pod2, MarketDataService);
    const fresh = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
    await fresh.until(() => fresh.messages.length >= 2, 'the starts');
    fresh.call.cancel();
    const positions = fresh.positions();
    const maker = await signUp(engine.grpcAddress, 'nothing-new-maker');

    const resumed = subscribe<SubscribeResponse>(market, 'subscribe', {
      symbols: ['BTC-USD'],
      sessionId: fresh.messages[0]?.sessionId,
      positions,
    });
    await resumed.until(() => resumed.messages.length >= 2, 'the starts');
    await sleep(200);
    const quiet = resumed.messages.length;
    await place(maker.auth, Side.BUY, 60_001n);
    await resumed.until(() => resumed.of(BOOK).length > 1, 'the next delta');
    resumed.call.cancel();

    assert.equal(quiet, 2, 'nothing replayed');
    for (const position of positions) {
      const [start] = resumed.of(position.stream);
      assert.equal(start?.recovered, true, `${position.stream} recovered`);
      assert.equal(start.event.case, undefined);
      assert.equal(start.seq, position.seq);
    }
    const [, next] = resumed.of(BOOK);
    assert.equal(next?.seq, (positions.find((p) => p.stream === BOOK)?.seq ?? 0n) + 1n);
    assert.equal(next.recovered, true);
    assert.equal(next.event.case, 'delta');
  });
});
