import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type Client, type Metadata } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { AccountService } from '../../src/gen/trading/v1/account_pb.js';
import { SessionService, type OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import { ReconnectReason } from '../../src/gen/trading/v1/stream_pb.js';
import { sample, TEST_REDIS_URL, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { ClientBook, signUp, subscribe } from '../support/stream-client.js';
import { startStreamDeployment, type StreamDeployment } from '../support/stream-deployment.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';

/**
 * Three "pods" sharing PostgreSQL and Redis: one runs the engine (ROLE=all), two serve streams
 * (ROLE=stream, POD_NAME stream-1 and stream-2). Clients subscribe on stream-1, which is shut
 * down mid-stream, and resume on stream-2.
 */
describe('market data and private streams over gRPC, across pods', () => {
  let deployment: StreamDeployment<readonly [TestApp, TestApp]>;
  let engine: TestApp;
  let pod1: TestApp;
  let pod2: TestApp;
  const clients: Client[] = [];
  const client = (app: TestApp, service: typeof MarketDataService | typeof SessionService) => {
    const made = grpcClient(app.grpcAddress, service);
    clients.push(made);
    return made;
  };

  before(async () => {
    deployment = await startStreamDeployment(['stream-1', 'stream-2']);
    ({ engine } = deployment);
    [pod1, pod2] = deployment.pods;
  });
  after(async () => {
    for (const made of clients) made.close();
    await deployment.stop();
  });

  const head = (stream: string) => deployment.head(stream);
  const place = (auth: Metadata, side: Side, price: bigint, quantity = 1n) =>
    deployment.place(auth, side, price, quantity);

  test('a book rebuilt from the snapshot and deltas matches every checksum and GetOrderBook', async () => {
    const { auth } = await signUp(engine.grpcAddress, 'book-maker');
    const taker = await signUp(engine.grpcAddress, 'book-taker');
    await place(auth, Side.BUY, 64_000n, 2n);
    await place(auth, Side.SELL, 66_000n, 3n);
    const market = client(pod1, MarketDataService);
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
    const book = new ClientBook();
    await stream.until(() => stream.of(BOOK).length > 0, 'the snapshot');

    for (let i = 0; i < 10; i++) {
      await place(
        auth,
        i % 2 === 0 ? Side.BUY : Side.SELL,
        BigInt(i % 2 === 0 ? 64_100 + i : 65_900 - i),
      );
    }
    // A taker crossing the spread: trades and level removals.
    await place(taker.auth, Side.BUY, 66_000n, 4n);
    const last = await head(BOOK);
    await stream.until(() => stream.of(BOOK).at(-1)?.seq === last, `book seq ${last}`);

    const checks = stream.of(BOOK).map((message) => book.apply(message));
    const final = await unary<{
      book: { seq: bigint; checksum: number; bids: unknown[]; asks: unknown[] };
    }>(market, 'getOrderBook', { symbol: 'BTC-USD' });
    stream.call.cancel();

    assert.equal(stream.of(BOOK)[0]?.event.case, 'snapshot');
    assert.ok(checks.every(Boolean), `checksums: ${checks.join(',')}`);
    assert.equal(book.seq, final.response?.book.seq);
    assert.equal(book.checksum(), final.response?.book.checksum);
    assert.ok(stream.of(TRADES).some((m) => m.event.case === 'trade'));
  });

  test('a client resumes on another pod after its pod goes away: no gap, no duplicate, recovered, migrated', async () => {
    const trader = await signUp(engine.grpcAddress, 'migrating-trader');
    const market1 = client(pod1, MarketDataService);
    const session1 = client(pod1, SessionService);
    const book = new ClientBook();
    const first = subscribe<SubscribeResponse>(market1, 'subscribe', { symbols: ['BTC-USD'] });
    const own = subscribe<OpenStreamResponse>(session1, 'openStream', {}, trader.auth);
    await first.until(() => first.of(BOOK).length > 0 && own.messages.length > 0, 'both starts');
    await place(trader.auth, Side.BUY, 63_000n);
    await place(trader.auth, Side.SELL, 67_000n);
    await own.until(() => own.messages.length >= 3, 'two execution reports');
    await first.until(() => first.of(BOOK).length >= 3, 'two deltas');

    const drained = pod1.shutdown.run('killed by the test');
    await first.until(() => first.ended || first.error !== undefined, 'the stream to end');
    await own.until(() => own.ended || own.error !== undefined, 'the private stream to end');
    await drained;
    // Missed while no pod serves the client.
    await place(trader.auth, Side.BUY, 63_100n);
    await place(trader.auth, Side.SELL, 63_000n);
    for (const drainedStream of [first, own]) {
      const [reconnect, ...more] = drainedStream.reconnects;
      assert.equal(more.length, 0, 'one Reconnect per stream');
      assert.ok(reconnect !== undefined && reconnect.delayMs < 200, `delay ${reconnect?.delayMs}`);
      assert.match(reconnect.reason, /going away/);
      assert.equal(drainedStream.error?.code, status.UNAVAILABLE);
      assert.deepEqual(drainedStream.error.metadata?.get('error-dependency'), ['server-shutdown']);
      assert.ok((drainedStream.endedAt ?? 0) >= reconnect.at, 'ended after the Reconnect');
    }
    const drainMetrics = await pod1.registry.metrics();
    assert.equal(sample(drainMetrics, 'stream_drain_seconds_count', {}), 1);

    const market2 = client(pod2, MarketDataService);
    const session2 = client(pod2, SessionService);
    // As the SDK does after a Reconnect: says why it is back.
    const second = subscribe<SubscribeResponse>(market2, 'subscribe', {
      symbols: ['BTC-USD'],
      sessionId: first.messages[0]?.sessionId,
      positions: first.positions(),
      reconnectReason: ReconnectReason.DRAIN,
    });
    const own2 = subscribe<OpenStreamResponse>(
      session2,
      'openStream',
      {
        sessionId: own.messages[0]?.sessionId,
        positions: own.positions(),
        reconnectReason: ReconnectReason.DRAIN,
      },
      trader.auth,
    );
    const ownHead = await head(own.messages[0]?.stream ?? '');
    await own2.until(() => own2.messages.at(-1)?.seq === ownHead, 'the missed execution reports');
    const bookHead = await head(BOOK);
    await second.until(() => second.of(BOOK).at(-1)?.seq === bookHead, 'the missed deltas');

    for (const [before, after] of [
      [first.of(BOOK), second.of(BOOK)],
      [first.of(TRADES), second.of(TRADES)],
      [own.messages, own2.messages],
    ] as const) {
      const [start, ...rest] = after;
      assert.equal(start?.recovered, true, `${start?.stream} recovered`);
      assert.equal(start.event.case, undefined);
      assert.equal(start.seq, before.at(-1)?.seq);
      assert.equal(start.pod, 'stream-2');
      const seqs = [...before.slice(1), ...rest].map((m) => m.seq);
      const from = before[0]?.seq ?? 0n;
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => from + 1n + BigInt(i)),
        `${start.stream} contiguous`,
      );
    }
    for (const message of [...first.of(BOOK), ...second.of(BOOK)]) {
      assert.ok(book.apply(message), `checksum at ${message.seq}`);
    }
    assert.equal(second.messages[0]?.sessionId, first.messages[0]?.sessionId);
    assert.equal(first.messages[0]?.pod, 'stream-1');
    const metrics = await pod2.registry.metrics();
    assert.equal(sample(metrics, 'session_migrations_total', { result: 'migrated' }), 2);
    assert.equal(sample(metrics, 'stream_resume_total', { result: 'replayed' }), 3);
    assert.equal(sample(metrics, 'stream_reconnects_total', { reason: 'drain' }), 2);
    second.call.cancel();
    own2.call.cancel();
  });

  test('a resume from before the retained history gets a fresh snapshot, recovered false', async () => {
    const { auth } = await signUp(engine.grpcAddress, 'history-trimmer');
    await place(auth, Side.BUY, 62_000n);
    await place(auth, Side.BUY, 62_001n);
    // The relay publishes after the engine commits: trim only once the log holds the head.
    const bookHead = await head(BOOK);
    const redis = new Redis(TEST_REDIS_URL);
    const key = `${engine.config.redis.keyPrefix}stream:${BOOK}`;
    const lastId = `${bookHead}-0`;
    const tail = async () => (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0]?.[0];
    const deadline = Date.now() + 10_000;
    while ((await tail()) !== lastId) {
      assert.ok(Date.now() < deadline, `the log never reached ${lastId}`);
      await sleep(10);
    }
    await redis.xtrim(key, 'MINID', lastId);
    redis.disconnect();
    const market = client(pod2, MarketDataService);
    const epoch = (
      await unary<{ book: { epoch: bigint } }>(market, 'getOrderBook', { symbol: 'BTC-USD' })
    ).response?.book.epoch;

    const stream = subscribe<SubscribeResponse>(market, 'subscribe', {
      symbols: ['BTC-USD'],
      positions: [{ stream: BOOK, epoch, seq: 1n }],
    });
    await stream.until(() => stream.of(BOOK).length > 0, 'the start');
    stream.call.cancel();

    const [start] = stream.of(BOOK);
    assert.equal(start?.recovered, false);
    assert.equal(start.event.case, 'snapshot');
    assert.equal(start.seq, bookHead);
  });

  test("an order's balance change reaches its owner's private stream after its execution report", async () => {
    const trader = await signUp(engine.grpcAddress, 'balance-watcher');
    const own = subscribe<OpenStreamResponse>(
      client(pod2, SessionService),
      'openStream',
      {},
      trader.auth,
    );
    await own.until(() => own.messages.length > 0, 'the start');
    const [start] = own.messages;
    assert.equal(start?.event.case, 'balances');
    const usdBefore = start.event.value.balances.find((b) => b.asset === 'USD');
    assert.equal(usdBefore?.reserved ?? 0n, 0n);

    await place(trader.auth, Side.BUY, 50_000n);
    await own.until(() => own.messages.length >= 3, 'the execution report and balance update');

    const [, execution, update] = own.messages;
    assert.equal(execution?.event.case, 'execution');
    assert.equal(update?.event.case, 'balances');
    assert.equal(update.seq, execution.seq + 1n, 'contiguous on the same stream');
    assert.equal(update.stream, execution.stream);
    const accounts = grpcClient(engine.grpcAddress, AccountService);
    clients.push(accounts);
    const committed = await unary<{
      balances: { asset: string; available: bigint; reserved: bigint }[];
    }>(accounts, 'getBalances', {}, trader.auth);
    const usd = committed.response?.balances.find((b) => b.asset === 'USD');
    const usdUpdate = update.event.value.balances.find((b) => b.asset === 'USD');
    assert.ok(usd !== undefined && usd.reserved > 0n, 'the order reserved USD');
    assert.ok(usdUpdate !== undefined, 'the update names USD');
    assert.deepEqual(
      { available: usdUpdate.available, reserved: usdUpdate.reserved },
      { available: usd.available, reserved: usd.reserved },
    );
    assert.equal(usdUpdate.available + usdUpdate.reserved, usdBefore?.available ?? 0n);
    own.call.cancel();
  });

  test("another user's private stream is PERMISSION_DENIED, and no token is UNAUTHENTICATED", async () => {
    const eve = await signUp(engine.grpcAddress, 'eve');
    const session = client(pod2, SessionService);

    const denied = subscribe<OpenStreamResponse>(
      session,
      'openStream',
      { positions: [{ stream: 'orders.1', epoch: 0n, seq: 0n }] },
      eve.auth,
    );
    const anonymous = subscribe<OpenStreamResponse>(session, 'openStream', {});
    await denied
      .until(() => denied.error !== undefined || denied.ended, 'the refusal')
      .catch(() => undefined);
    await anonymous
      .until(() => anonymous.error !== undefined, 'the refusal')
      .catch(() => undefined);

    assert.equal(denied.error?.code, status.PERMISSION_DENIED);
    assert.deepEqual(denied.messages, []);
    assert.equal(anonymous.error?.code, status.UNAUTHENTICATED);
  });
});
