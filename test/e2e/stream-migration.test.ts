import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, type Transport } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { Client, Metadata } from '@grpc/grpc-js';
import pg from 'pg';
import {
  connectTransport,
  grpcWebTransport,
  websocketTransport,
  websocketUrl,
  type TransportKind,
} from '../../src/client/index.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
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
import {
  Ingress,
  openSocket,
  ResumingClient,
  SdkClient,
  type Pod,
} from '../support/migrating-clients.js';
import {
  ClientBook,
  SIGN_UP_PASSWORD,
  signUp,
  subscribe,
  until,
} from '../support/stream-client.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';
const DRAIN_WINDOW_MS = 1_500;
/** The pod each kill test's clients start on; they all resume on stream-2. */
const FIRST_POD = { SIGTERM: 'stream-1', SIGKILL: 'stream-3' } as const;
type Signal = keyof typeof FIRST_POD;
/** Waits on other processes: generous, since the suite shares two cores with other files. */
const PATIENCE_MS = 30_000;

/** The SDK floors a Reconnect's delay at this (EnhancedConnectionManager's MIN_HINT_MS). */
const SDK_MIN_HINT_MS = 100;

/** Every transport the streams are served on, and how a stream drained on it ends. */
const TRANSPORTS: readonly {
  readonly name: string;
  readonly to: (pod: Pod) => Transport;
  /**
   * The status a stream ends with once its Reconnect's delay has passed; undefined for a clean
   * end (/ws closes with 1001 after its `reconnect` frame, which the SDK ends the call on).
   */
  readonly drainedWith: Code | undefined;
  /** Set for the SDK's own stream transports: its connection manager rides along on them. */
  readonly sdk?: TransportKind;
}[] = [
  {
    name: 'native gRPC',
    to: (pod) => createGrpcTransport({ baseUrl: `http://${pod.grpcAddress}` }),
    drainedWith: Code.Unavailable,
  },
  {
    name: 'WebSocket (/ws)',
    to: (pod) => websocketTransport(websocketUrl(pod.httpUrl), openSocket).transport,
    drainedWith: undefined,
    sdk: 'websocket',
  },
  {
    name: 'gRPC-Web',
    to: (pod) => grpcWebTransport(pod.httpUrl).transport,
    drainedWith: Code.Unavailable,
    sdk: 'grpc-web',
  },
  {
    name: 'Connect',
    to: (pod) => connectTransport(pod.httpUrl),
    drainedWith: Code.Unavailable,
  },
];

/** Runs `step` for every client at once; a failure names the client. */
async function forEach<C extends { name: string }>(
  clients: readonly C[],
  step: (client: C) => Promise<void>,
): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
      try {
        await step(client);
      } catch (error) {
        throw new Error(`${client.name}: ${(error as Error).message}`, { cause: error });
      }
    }),
  );
}

/**
 * Real processes sharing PostgreSQL and Redis: one ROLE=all serves the engine and the order
 * API; ROLE=stream pods serve the streams. A client on each transport follows the book, the
 * trades and its own private stream on a first stream pod while orders flow; that pod is killed
 * (SIGTERM, then in another test SIGKILL) and each client resumes on `stream-2` from its
 * positions.
 */
describe('streams resume on another pod when theirs goes away', () => {
  const schema = uniqueName('streams_e2e');
  let dataDir: string;
  let shared: Record<string, string>;
  let engine: AppProcess;
  let pod2: AppProcess;
  const firstPods = {} as Record<Signal, AppProcess>;
  const apps: AppProcess[] = [];
  const grpcClients: Client[] = [];
  const opened: { close(): void }[] = [];
  let orders: Client;
  // Fresh per test, so every fill of the trader happens while its clients are subscribed.
  let trader: { userId: string; auth: Metadata };
  let dealer: { userId: string; auth: Metadata };

  const spawnStreamPod = async (name: string) => {
    const pod = await spawnApp({ ...shared, ROLE: 'stream', POD_NAME: name });
    apps.push(pod);
    await pod.waitForLog('app started', 60_000);
    return pod;
  };
  const client = (pod: AppProcess, service: typeof MarketDataService) => {
    const made = grpcClient(pod.grpcAddress, service);
    grpcClients.push(made);
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
    // The pods the kill tests start on are started with stream-2, so no test waits for one.
    [pod2, firstPods.SIGTERM, firstPods.SIGKILL] = await Promise.all([
      spawnStreamPod('stream-2'),
      spawnStreamPod(FIRST_POD.SIGTERM),
      spawnStreamPod(FIRST_POD.SIGKILL),
    ]);
    orders = grpcClient(engine.grpcAddress, OrderService);
    grpcClients.push(orders);
  });
  after(async () => {
    for (const made of opened) made.close();
    for (const made of grpcClients) made.close();
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
  /** The trader's private stream. */
  const ownStream = () => `orders.${trader.userId}`;
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

  const migrationsOnPod2 = async () =>
    sample(await (await fetch(`${pod2.httpUrl}/metrics`)).text(), 'session_migrations_total', {
      result: 'migrated',
    }) ?? 0;

  /** The book as the engine serves it, to compare with the one each client built. */
  const servedBook = async () => {
    const served = await unary<{
      book: {
        seq: bigint;
        checksum: number;
        bids: { price: bigint; quantity: bigint }[];
        asks: { price: bigint; quantity: bigint }[];
      };
    }>(client(engine, MarketDataService), 'getOrderBook', { symbol: 'BTC-USD' });
    const book = served.response?.book;
    assert.ok(book !== undefined, 'the engine serves the book');
    const levels = (list: { price: bigint; quantity: bigint }[]) =>
      list.map((l) => ({ price: Number(l.price), quantity: Number(l.quantity) }));
    return {
      seq: book.seq,
      checksum: book.checksum,
      levels: { bids: levels(book.bids), asks: levels(book.asks) },
    };
  };

  /**
   * Everything up to the resume is the same for both signals: on the pod about to be killed,
   * a client per transport (and the SDK's manager per SDK transport) follows the market and
   * the trader's private stream while orders flow; the ingress moves to stream-2, the pod is
   * killed, every client resumes there, and every stream is followed to the engine's head.
   */
  async function killAndResume(signal: Signal) {
    const [pod1, podName] = [firstPods[signal], FIRST_POD[signal]];
    trader = await signUp(engine.grpcAddress, `${podName}-trader`);
    dealer = await signUp(engine.grpcAddress, `${podName}-dealer`);
    const accessToken = String(trader.auth.get('authorization')[0]).replace(/^Bearer /, '');
    const migratedBefore = await migrationsOnPod2();
    const ingress = new Ingress(pod1);
    const clients = TRANSPORTS.map((transport) => ({
      ...transport,
      client: new ResumingClient(transport.to, ingress, accessToken),
    }));
    const sdks = TRANSPORTS.flatMap(({ name, to, sdk }) =>
      sdk === undefined
        ? []
        : [
            {
              name: `${name}, SDK connection manager`,
              sdk: new SdkClient(sdk, to, ingress, connectTransport(engine.httpUrl)),
            },
          ],
    );
    opened.push(...clients.map(({ client }) => client), ...sdks.map(({ sdk }) => sdk));
    await forEach(sdks, ({ sdk }) => sdk.manager.signIn(`${podName}-trader`, SIGN_UP_PASSWORD));
    for (const { client } of clients) client.open();
    for (const { sdk } of sdks) sdk.manager.start();

    await forEach(clients, async ({ client }) => {
      const [market, own] = [client.market[0], client.own[0]];
      assert.ok(market !== undefined && own !== undefined);
      await market.until(
        () => market.of(BOOK).length > 0 && market.of(TRADES).length > 0,
        'the market starts',
        PATIENCE_MS,
      );
      await own.until(() => own.of(ownStream()).length > 0, 'the private start', PATIENCE_MS);
    });
    await forEach(sdks, ({ sdk }) =>
      until(
        () => sdk.book !== undefined && (sdk.own[0]?.of(ownStream()).length ?? 0) > 0,
        'the book and the private start',
        PATIENCE_MS,
      ),
    );
    const stop = flowOrders();
    await forEach(clients, async ({ client }) => {
      const [market] = client.market;
      await market?.until(() => market.of(TRADES).length >= 5, 'trades', PATIENCE_MS);
    });
    await forEach(sdks, ({ sdk }) => until(() => sdk.tradeSeqs.length >= 5, 'trades', PATIENCE_MS));

    ingress.target = pod2;
    pod1.child.kill(signal);
    // The SDK's managers reconnect by themselves; the other clients once their calls end.
    await forEach(clients, ({ client }) => client.resume(PATIENCE_MS));
    await sleep(500); // orders keep flowing on the new pod
    await stop();

    const heads = {
      book: await head(BOOK),
      trades: await head(TRADES),
      own: await head(ownStream()),
    };
    const tradeIds = await traderTradeIds();
    await forEach(clients, async ({ client }) => {
      const [market, own] = [client.market[1], client.own[1]];
      assert.ok(market !== undefined && own !== undefined, 'resumed');
      await market.until(
        () =>
          market.of(BOOK).at(-1)?.seq === heads.book &&
          market.of(TRADES).at(-1)?.seq === heads.trades,
        'the market streams to reach the heads',
        PATIENCE_MS,
      );
      await own.until(
        () => own.of(ownStream()).at(-1)?.seq === heads.own,
        'the private stream to reach its head',
        PATIENCE_MS,
      );
    });
    await forEach(sdks, ({ sdk }) =>
      until(
        () =>
          sdk.book?.seq === heads.book &&
          sdk.tradeSeqs.at(-1) === heads.trades &&
          sdk.own.at(-1)?.of(ownStream()).at(-1)?.seq === heads.own,
        'the book, the trades and the private stream to reach the heads',
        PATIENCE_MS,
      ),
    );
    for (const { client } of clients) client.close();
    for (const { sdk } of sdks) sdk.close();
    return {
      pod1,
      podName,
      clients,
      sdks,
      heads,
      tradeIds,
      served: await servedBook(),
      migrated: (await migrationsOnPod2()) - migratedBefore,
    };
  }

  type Run = Awaited<ReturnType<typeof killAndResume>>;

  /** This client's sessions moved from the killed pod: stream-2 logged each. */
  function assertMigrated(sessionIds: (string | undefined)[], run: Run): void {
    for (const sessionId of sessionIds) {
      assert.ok(
        pod2.lines.some(
          (line) =>
            line.msg === 'session migrated' &&
            line.session_id === sessionId &&
            line.from_pod === run.podName &&
            line.to_pod === 'stream-2',
        ),
        `session ${sessionId} migrated`,
      );
    }
  }

  /** What every client must show after the kill, whatever the signal and transport. */
  function assertResumed(client: ResumingClient, run: Run): void {
    const [market1, market2] = client.market;
    const [own1, own2] = client.own;
    assert.ok(market1 && market2 && own1 && own2, 'one pair of calls per pod');
    assert.equal(client.market.length, 2, 'resumed once');
    for (const [name, before, resumed] of [
      [BOOK, market1.of(BOOK), market2.of(BOOK)],
      [TRADES, market1.of(TRADES), market2.of(TRADES)],
      [ownStream(), own1.of(ownStream()), own2.of(ownStream())],
    ] as const) {
      const [start, ...rest] = resumed;
      const from = before[0]?.seq ?? 0n;
      assert.equal(before[0]?.pod, run.podName);
      assert.equal(start?.recovered, true, `${name} recovered`);
      assert.equal(start.event.case, undefined, `${name} resumed without a snapshot`);
      assert.equal(start.seq, before.at(-1)?.seq, `${name} resumed at its position`);
      assert.equal(start.pod, 'stream-2');
      assert.ok(
        rest.every((m) => m.recovered),
        `${name}: every message of the resume says recovered`,
      );
      const seqs = [...before.slice(1), ...rest].map((m) => m.seq);
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => from + 1n + BigInt(i)),
        `${name}: contiguous, no duplicate`,
      );
    }

    const book = new ClientBook();
    for (const message of [...market1.of(BOOK), ...market2.of(BOOK)]) {
      assert.ok(book.apply(message), `checksum at ${message.seq}`);
    }
    assert.equal(run.served.seq, book.seq);
    assert.equal(run.served.checksum, book.checksum());
    assert.deepEqual(run.served.levels, book.levels());

    const fills = [...own1.messages, ...own2.messages].flatMap((m) =>
      m.event.case === 'execution' ? m.event.value.fills.map((f) => f.tradeId) : [],
    );
    assert.ok(fills.length > 0, 'fills arrived');
    assert.deepEqual([...fills].sort(), run.tradeIds, 'every fill exactly once');
    assertMigrated([market2.messages[0]?.sessionId, own2.messages[0]?.sessionId], run);
  }

  /** The same for the SDK's manager, from what it tells the app and what its calls carried. */
  function assertSdkResumed(sdk: SdkClient, run: Run): void {
    const { pod, migrations, unrecovered, gaps, duplicates, checksumMismatches } =
      sdk.manager.state;
    assert.deepEqual(
      { pod, migrations, unrecovered, gaps, duplicates, checksumMismatches },
      {
        pod: 'stream-2',
        migrations: 1,
        unrecovered: 0,
        gaps: 0,
        duplicates: 0,
        checksumMismatches: 0,
      },
    );
    assert.equal(sdk.market.length, 2, 'one market call per pod');
    assert.equal(sdk.own.length, 2, 'one private call per pod');
    for (const [calls, streams] of [
      [sdk.market, [BOOK, TRADES]],
      [sdk.own, [ownStream()]],
    ] as const) {
      const [before, resumed] = calls;
      for (const stream of streams) {
        const carried = before?.of(stream) ?? [];
        const [start, ...rest] = resumed?.of(stream) ?? [];
        assert.equal(carried[0]?.pod, run.podName);
        assert.equal(start?.recovered, true, `${stream} recovered`);
        assert.equal(start.event.case, undefined, `${stream} resumed without a snapshot`);
        assert.equal(start.pod, 'stream-2');
        // From its position: at most the last entry its first call carried (it may have left
        // one unread when it moved on), never before the first.
        assert.ok(
          carried.some((m) => m.seq === start.seq),
          `${stream} resumed at ${start.seq}`,
        );
        assert.ok(rest.every((m) => m.recovered));
      }
    }
    const trades = sdk.tradeSeqs;
    assert.deepEqual(
      trades,
      trades.map((_, i) => (trades[0] ?? 0n) + BigInt(i)),
      'every trade once, in order',
    );
    assert.equal(trades.at(-1), run.heads.trades);
    assert.equal(sdk.book?.seq, run.served.seq);
    assert.equal(sdk.book.checksum, run.served.checksum);
    const levels = (list: readonly { price: bigint; quantity: bigint }[]) =>
      list.map((l) => ({ price: Number(l.price), quantity: Number(l.quantity) }));
    assert.deepEqual(
      { bids: levels(sdk.book.bids), asks: levels(sdk.book.asks) },
      run.served.levels,
    );
    assert.deepEqual([...sdk.fills].sort(), run.tradeIds, 'every fill exactly once');
    assertMigrated(
      [sdk.market[1]?.messages[0]?.sessionId, sdk.own[1]?.messages[0]?.sessionId],
      run,
    );
  }

  test('SIGTERM: on every transport each stream gets a Reconnect inside the window and the client resumes on the other pod after it', async (t) => {
    const run = await killAndResume('SIGTERM');

    assert.equal(await run.pod1.exited, 0, 'the pod drained and exited cleanly');
    assert.equal(
      run.migrated,
      2 * (run.clients.length + run.sdks.length),
      'every session migrated',
    );
    // When the pod closed each stream, by its own clock: the client's receipt times are no
    // measure of that on a loaded machine.
    await until(() => run.pod1.lines.some((l) => l.msg === 'shutdown finished'), 'the last log');
    const timeOf = (line: Record<string, unknown> | undefined) => Date.parse(String(line?.time));
    const drainStarted = timeOf(run.pod1.lines.find((l) => l.msg === 'stream drain started'));
    for (const { name, client, drainedWith } of run.clients) {
      await t.test(name, () => {
        assertResumed(client, run);
        for (const drained of [client.market[0], client.own[0]]) {
          const [reconnect, ...more] = drained?.reconnects ?? [];
          assert.equal(more.length, 0, 'one Reconnect');
          assert.ok(reconnect !== undefined, 'a Reconnect');
          assert.ok(reconnect.delayMs < DRAIN_WINDOW_MS, `delay ${reconnect.delayMs}`);
          assert.equal(drained?.error?.code, drainedWith, drained?.error?.message);
          if (drainedWith !== undefined) {
            assert.equal(drained?.error?.metadata.get('error-dependency'), 'server-shutdown');
          }
          // The stream served on until its delay had passed; the client came back after that.
          const sessionId = drained?.messages[0]?.sessionId;
          const closed = timeOf(
            run.pod1.lines.find((l) => l.msg === 'stream closed' && l.session_id === sessionId),
          );
          assert.ok(closed - drainStarted >= reconnect.delayMs - 1, 'served until its delay');
        }
      });
    }
    for (const { name, sdk } of run.sdks) {
      await t.test(name, () => {
        assertSdkResumed(sdk, run);
        // It acted on the first Reconnect to arrive: waited its delay, then resumed elsewhere.
        const [reconnecting, ...more] = sdk.reconnecting;
        assert.equal(more.length, 0, 'reconnected once');
        assert.equal(reconnecting?.reason, 'server-reconnect');
        const sent = [...(sdk.market[0]?.reconnects ?? []), ...(sdk.own[0]?.reconnects ?? [])];
        assert.ok(
          sent.every((r) => r.delayMs < DRAIN_WINDOW_MS),
          'delays inside the window',
        );
        const waited = reconnecting.retryAt - reconnecting.at;
        assert.ok(
          sent.some((r) => Math.abs(Math.max(SDK_MIN_HINT_MS, r.delayMs) - waited) <= 2),
          `waited ${waited} ms, a delay the pod sent (${sent.map((r) => r.delayMs).join(', ')})`,
        );
        assert.ok((sdk.connecting.at(-1) ?? 0) >= reconnecting.retryAt, 'not before the delay');
      });
    }
  });

  test('SIGKILL: on every transport the connection drops with no Reconnect and the client resumes on the other pod all the same', async (t) => {
    const run = await killAndResume('SIGKILL');

    assert.equal(await run.pod1.exited, 'SIGKILL');
    assert.equal(
      run.migrated,
      2 * (run.clients.length + run.sdks.length),
      'every session migrated',
    );
    for (const { name, client } of run.clients) {
      await t.test(name, () => {
        assertResumed(client, run);
        for (const dropped of [client.market[0], client.own[0]]) {
          assert.deepEqual(dropped?.reconnects, []);
          // The code is the client library's reading of a dead connection (UNAVAILABLE,
          // CANCELED or UNKNOWN): what matters is that the call fails rather than ends.
          assert.ok(dropped.error !== undefined, 'the drop fails the call');
        }
      });
    }
    for (const { name, sdk } of run.sdks) {
      await t.test(name, () => {
        assertSdkResumed(sdk, run);
        assert.deepEqual(
          [...(sdk.market[0]?.reconnects ?? []), ...(sdk.own[0]?.reconnects ?? [])],
          [],
        );
        assert.deepEqual(
          sdk.reconnecting.map((r) => r.reason),
          ['error'],
        );
      });
    }
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
