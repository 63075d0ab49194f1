/**
 * Durable order placement: N concurrent gRPC clients place orders (gRPC → engine shard →
 * PostgreSQL commit → reply) on the real PostgreSQL (and Redis for the streams), in one run:
 * - `stream`: orders on OrderEntry streams, one per client, one order in flight on each (the
 *   order-entry API for a sustained flow; always the lean HTTP/2 client, whatever `--client`
 *   says), the platform as configured (batched, pipelined transactions): the headline;
 * - `stream-baseline`: the same streams, one transaction per order;
 * - `batched`: the same orders as unary PlaceOrder calls, as configured;
 * - `baseline`: the same unary calls, one transaction per order;
 * - `transport`: the unary clients and gRPC server with an engine that commits nothing (what
 *   gRPC, auth and protobuf alone allow on this machine: the ceiling of the unary runs);
 * - `stream-transport`: the same for the OrderEntry streams (the ceiling of `stream`);
 * - `in-process`: the durable path without gRPC (OrderDesk.place from N concurrent callers
 *   in the server's process): what the engine and PostgreSQL alone sustain;
 * - `stream-traced`: `stream` with telemetry on, as `npm start` ships it (the tracer provider
 *   registered, pg and ioredis instrumented, every call, command and batch a span, sampled as
 *   OTEL_TRACES_SAMPLER says: all by default; no exporter): a child process of this file,
 *   preloaded with src/telemetry/instrument.ts, since instrumentation patches modules for the
 *   life of a process.
 * Each run warms up before it measures. Last line: one JSON object (with `--only`, the run's).
 *
 *   node --import tsx bench/orders.ts [--clients 64] [--seconds 10] [--warmup 3]
 *     [--only batched|baseline|stream|stream-baseline|transport|stream-transport|in-process|
 *       stream-traced]
 *     [--stream-log redis|memory]
 *     [--symbols 1] [--repeat 1] [--revocations on|off]
 *
 * `--repeat N` (odd) runs the whole sequence N times and reports each figure's median: this
 * host's speed drifts by a third within minutes, so one run of each can mislead.
 *
 * The clients run in worker threads, as separate callers would: their gRPC and protobuf work
 * does not share the server's event loop (it does share the machine's cores).
 */
// First, as in main.ts: the server runs with these V8 settings.
import '../src/lifecycle/v8-tuning.js';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { create, toBinary } from '@bufbuild/protobuf';
import { Metadata } from '@grpc/grpc-js';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createPostgres, runMigrations } from '../src/adapters/postgres/index.js';
import { MemorySessionRevocations } from '../src/adapters/auth/session-revocations.memory.js';
import { RedisSessionRevocations } from '../src/adapters/auth/session-revocations.redis.js';
import { createRedisConnection, type RedisConnection } from '../src/adapters/redis/client.js';
import { RevokedSessions } from '../src/domain/auth/revoked-sessions.js';
import { RedisStreamLog } from '../src/adapters/stream-log/stream-log.redis.js';
import { AccessTokens } from '../src/domain/auth/access-tokens.js';
import { systemClock } from '../src/domain/clock.js';
import { Side } from '../src/gen/trading/v1/common_pb.js';
import {
  OrderEntryRequestSchema,
  OrderService,
  OrderType,
  PlaceOrderRequestSchema,
  TimeInForce,
  type PlaceOrderRequest,
} from '../src/gen/trading/v1/orders_pb.js';
import { Readiness } from '../src/lifecycle/readiness.js';
import { registration, startGrpcServer } from '../src/transport/grpc/server.js';
import type { OrderEngine } from '../src/domain/orders/order-engine.port.js';
import type { OrderDesk } from '../src/domain/orders/order-desk.js';
import { BATCH_STEPS } from '../src/adapters/orders/batch-steps.js';
import {
  createOrderApi,
  createOrders,
  DEFAULT_ORDERS_SETTINGS,
  type MarketSettings,
  type OrdersSettings,
} from '../src/wiring/orders.js';
import { grpcClient, unary } from '../test/support/grpc.js';
import { H2GrpcClient, type H2GrpcStream } from './support/h2-grpc-client.js';
import { commandCpuSeconds, cpuSeconds, threadCpuSeconds } from './support/servers.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    users: { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    // Symbols traded, each on an engine shard of its own (at most 5). Every caller rotates
    // over all of them, so every user trades on every shard.
    symbols: { type: 'string', default: '1' },
    // The load generator's client: h2 (lean, default) or grpc-js (a full client).
    client: { type: 'string', default: 'h2' },
    // One run only (batched, stream, transport, stream-transport or in-process), without the
    // JSON line.
    only: { type: 'string' },
    // Every run this many times, in turn (batched, baseline, …, then again), and the median of
    // each figure (use an odd count): this host's speed drifts by a third within minutes.
    repeat: { type: 'string', default: '1' },
    database: {
      type: 'string',
      default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    // Where the outbox relay publishes: Redis Streams (as deployed) or the in-process twin of
    // the laptop default, which keeps every stream's last 10,000 events on this process's heap.
    'stream-log': { type: 'string', default: 'redis' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    // on: calls and every order-entry command are checked against the revoked sessions, polled
    // from the shared store every second with 1,000 revoked sessions in it, as deployed; off:
    // the same per-command hook doing nothing (the cost of revocation is the difference).
    revocations: { type: 'string', default: 'on' },
    // Set by the traced run on its child: stop unless a tracer provider is registered.
    'expect-tracing': { type: 'boolean', default: false },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const USERS = Number(values.users);
const WORKERS = Number(values.workers);
const MARKETS = benchMarkets(Number(values.symbols));
const SYMBOLS = MARKETS.map((market) => market.spec.symbol);
const SETTINGS: OrdersSettings = { ...DEFAULT_ORDERS_SETTINGS, markets: MARKETS };
const ONLY = values.only;
const REPEAT = Math.max(1, Number(values.repeat));
const CLIENT: ClientKind = values.client === 'grpc-js' ? 'grpc-js' : 'h2';
const DATABASE_URL = values.database;
const REDIS_URL = values['stream-log'] === 'memory' ? undefined : values.redis;
const logger = pino({ level: 'warn' });
/** The current run's revoked-session poller (--revocations on), stopped at its teardown. */
let revokedPoller: RevokedSessions | undefined;

interface RunResult {
  readonly orders: number;
  readonly failed: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly batchMean: number;
  /** Mean ms a committed batch spent in each step of its cycle (engine_batch_step_seconds). */
  readonly batchStepsMs: BatchStepsMs;
  readonly cpu: CpuPerOrder;
}

type BatchStepsMs = Record<(typeof BATCH_STEPS)[number], number>;

/** What the engine's metrics say of a run's batches (0 where nothing was committed). */
interface BatchFigures {
  readonly mean: number;
  readonly stepsMs: BatchStepsMs;
}

const NO_BATCHES: BatchFigures = {
  mean: 0,
  stepsMs: Object.fromEntries(BATCH_STEPS.map((step) => [step, 0])) as BatchStepsMs,
};

/** CPU µs per measured order: where the machine's two cores went. */
interface CpuPerOrder {
  /** This process's main thread: the gRPC server, the engine and the pg client. */
  readonly server: number;
  /** The client worker threads: the load generator. */
  readonly clients: number;
  /** The process's other threads: garbage collection helpers, libuv's pool. */
  readonly helpers: number;
  /** Every PostgreSQL process. */
  readonly postgres: number;
  /** Redis (the stream log the relay publishes to), 0 with `--stream-log memory`. */
  readonly redis: number;
}

interface CpuTotals {
  readonly main: number;
  readonly process: number;
  readonly postgres: number;
  readonly redis: number;
}

const cpuTotals = (): CpuTotals => ({
  main: cpuSeconds(process.pid, process.pid),
  process: cpuSeconds(process.pid),
  postgres: commandCpuSeconds('postgres'),
  redis: REDIS_URL === undefined ? 0 : commandCpuSeconds('redis-server'),
});

/** CPU used from the end of the warm-up to the end of the measured window. */
async function measuredCpu(): Promise<CpuTotals> {
  await sleep(WARMUP * 1000);
  const before = cpuTotals();
  await sleep(SECONDS * 1000);
  const after = cpuTotals();
  return {
    main: after.main - before.main,
    process: after.process - before.process,
    postgres: after.postgres - before.postgres,
    redis: after.redis - before.redis,
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

/**
 * grpc: a unary PlaceOrder call per order; stream: the same orders on OrderEntry streams (one
 * per client, one order in flight on each); transport and stream-transport: the same unary
 * calls or streams to an engine that commits nothing; in-process: OrderDesk.place without
 * gRPC.
 */
type Mode = 'grpc' | 'stream' | 'transport' | 'stream-transport' | 'in-process';

const isTransport = (mode: Mode) => mode === 'transport' || mode === 'stream-transport';

/** Answers every place at once with a resting order, writing nothing. */
function noopEngine(): OrderEngine {
  let nextId = 1;
  return {
    submit(command) {
      if (command.kind !== 'place') return Promise.reject(new Error('places only'));
      const now = new Date();
      const { kind, ...placed } = command; // a place command is the order's own fields
      return Promise.resolve({
        replayed: false,
        result: {
          order: {
            ...placed,
            id: nextId++,
            reservePrice: command.price,
            filled: 0,
            status: 'new',
            reason: '',
            priority: 0,
            createdAt: now,
            updatedAt: now,
          },
          fills: [],
        },
      });
    },
  };
}

async function run(
  label: string,
  batching: OrdersSettings['batching'],
  mode: Mode = 'grpc',
): Promise<RunResult> {
  const schema = `bench_orders_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const registry = new Registry();
  const postgres = createPostgres({
    connectionString: DATABASE_URL,
    schema,
    max: 8,
    healthCheckIntervalMs: 0,
    logger,
    registry,
  });
  await runMigrations({ pool: postgres.pool, logger, schema });
  const { rows } = await postgres.query<{ id: string }>(
    `INSERT INTO users (username, password_hash)
     SELECT 'bench' || g, 'x' FROM generate_series(1, $1) g RETURNING id::text`,
    [USERS],
  );
  const userIds = rows.map((r) => r.id);
  await postgres.query(
    `INSERT INTO balances (user_id, asset, available)
     SELECT u, a, 1000000000000000 FROM unnest($1::bigint[]) u, unnest($2::text[]) a`,
    [userIds, ['USD', ...MARKETS.map((market) => market.baseAsset)]],
  );
  const redis =
    REDIS_URL === undefined
      ? undefined
      : createRedisConnection({ logger, registry, url: REDIS_URL, keyPrefix: `${schema}:` });
  await redis?.waitUntilReady(5_000);
  const orders = createOrders(
    { ...SETTINGS, batching },
    {
      postgres,
      logger,
      registry,
      clock: systemClock,
      ...(redis === undefined
        ? {}
        : { streamLog: new RedisStreamLog({ redis: redis.client, policy: redis.policy }) }),
    },
  );
  await orders.start();
  const teardown = async () => {
    revokedPoller?.close();
    for (const step of orders.closeSteps) await step.run();
    await postgres.close();
    if (redis !== undefined) {
      // The run's streams, then the connection (keys carry the run's prefix).
      const keys = await redis.client.keys(`${schema}:*`);
      for (let i = 0; i < keys.length; i += 500) {
        // The client adds the prefix itself: strip it from what KEYS returned.
        await redis.client.unlink(...keys.slice(i, i + 500).map((k) => k.slice(schema.length + 1)));
      }
      await redis.close();
    }
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  };
  const batches = async (): Promise<BatchFigures> => {
    const [sum = 0, count = 0] = (await registry.getSingleMetricAsString('engine_batch_size'))
      .split('\n')
      .filter((l) => /^engine_batch_size_(sum|count) /.test(l))
      .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    const steps = (await registry.getSingleMetric('engine_batch_step_seconds')?.get())?.values;
    // Summed over the shards.
    const total = (series: 'sum' | 'count', step: string) =>
      (steps ?? [])
        // prom-client names each histogram value's series (`…_sum`, `…_count`, `…_bucket`).
        .filter((v) => 'metricName' in v && v.metricName === `engine_batch_step_seconds_${series}`)
        .filter((v) => v.labels.step === step)
        .reduce((acc, v) => acc + v.value, 0);
    const stepMs = (step: string) =>
      Math.round((total('sum', step) / Math.max(1, total('count', step))) * 1e5) / 100;
    return {
      mean: Math.round((sum / Math.max(1, count)) * 10) / 10,
      stepsMs: Object.fromEntries(BATCH_STEPS.map((step) => [step, stepMs(step)])) as BatchStepsMs,
    };
  };
  if (mode === 'in-process') {
    const [measured, cpu] = await Promise.all([
      inProcess(orders.orders, userIds.map(Number), label),
      measuredCpu(),
    ]);
    const result = summarize(label, measured, await batches(), cpu);
    await teardown();
    return result;
  }
  const api = isTransport(mode)
    ? createOrderApi(SETTINGS, {
        postgres,
        logger,
        registry,
        engine: noopEngine(),
      })
    : orders;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const tokens = new AccessTokens(
    { privateKey, publicKey, kid: 'bench' },
    { issuer: 'bench', audience: 'bench', ttlSeconds: 3600 },
    systemClock,
  );
  const revoked = await revokedSessions(redis, registry);
  const server = await startGrpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      logger,
      registry,
      readiness: new Readiness(),
      tls: undefined,
      authenticate: async (token) => {
        const principal = await tokens.verify(token);
        if (revoked?.isRevoked(principal.sessionId) === true) throw new Error('revoked');
        return principal;
      },
      limitCall: (principal) => {
        if (revoked?.isRevoked(principal.sessionId) === true) throw new Error('revoked');
        return Promise.resolve();
      },
    },
    [registration(OrderService, api.orderRpc)],
  );
  const address = `127.0.0.1:${server.port}`;
  const tokenList = await Promise.all(
    userIds.map(async (userId) => (await tokens.issue({ userId, sessionId: randomUUID() })).token),
  );
  const cpu = measuredCpu();
  const results = await Promise.all(
    Array.from(
      { length: WORKERS },
      (_, w) =>
        new Promise<WorkerResult>((resolve, reject) => {
          const job: WorkerJob = {
            client: CLIENT,
            address,
            tokens: tokenList,
            clients: Math.ceil(CLIENTS / WORKERS),
            first: w * Math.ceil(CLIENTS / WORKERS),
            stream: mode === 'stream' || mode === 'stream-transport',
            symbols: SYMBOLS,
            seconds: SECONDS,
            warmup: WARMUP,
            label: `${label}-${w}`,
          };
          // The bootstrap registers tsx itself; the process's own preloads (the traced run's
          // instrumentation) are not the load generator's.
          const worker = new Worker(WORKER_BOOTSTRAP, { workerData: job, execArgv: [] });
          worker.once('message', (result: WorkerResult) => {
            resolve(result);
          });
          worker.once('error', reject);
        }),
    ),
  );
  const measured: WorkerResult = {
    latencies: results.flatMap((r) => r.latencies),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    cpuSeconds: results.reduce((sum, r) => sum + r.cpuSeconds, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
  };
  const batch = isTransport(mode) ? NO_BATCHES : await batches();
  await server.drain();
  await teardown();
  return summarize(label, measured, batch, await cpu);
}

function summarize(
  label: string,
  measured: WorkerResult,
  batch: BatchFigures,
  cpu: CpuTotals,
): RunResult {
  const latencies = [...measured.latencies].sort((a, b) => a - b);
  const perOrder = (seconds: number) => Math.round((seconds / Math.max(1, latencies.length)) * 1e6);
  const result = {
    orders: latencies.length,
    failed: measured.failed,
    perSecond: Math.round(latencies.length / measured.seconds),
    p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
    p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
    batchMean: batch.mean,
    batchStepsMs: batch.stepsMs,
    cpu: {
      server: perOrder(cpu.main),
      clients: perOrder(measured.cpuSeconds),
      helpers: perOrder(cpu.process - cpu.main - measured.cpuSeconds),
      postgres: perOrder(cpu.postgres),
      redis: perOrder(cpu.redis),
    },
  };
  console.log(label, result);
  return result;
}

/**
 * The `k`th order of caller `c`. Caller `c` is one trader (user `c`) on one side: even callers
 * buy, odd ones sell, so no one trades with themselves, and prices straddle the mid so that
 * many orders trade and the rest rest. It depends on the caller's own count, not on the order
 * in which answers came back, so every run (in-process, unary or streamed) places the same
 * mix. (Numbered by a shared counter, in-process callers answered in batch order kept their
 * parity and placed only sells: nothing traded.)
 */
function orderFor(k: number, c: number, symbols: readonly string[]) {
  const buy = c % 2 === 0;
  const n = k * 64 + c;
  return {
    symbol: symbols[(k + c) % symbols.length] ?? 'BTC-USD',
    buy,
    price: 60_000 + (buy ? 1 : -1) * (((n * 7919) % 40) - 12),
    quantity: 1 + (n % 3),
  };
}

/** BTC-USD (the default market), then up to four more like it, each on a shard of its own. */
function benchMarkets(count: number): MarketSettings[] {
  const [btc] = DEFAULT_ORDERS_SETTINGS.markets;
  if (btc === undefined) throw new Error('no default market');
  const bases = ['BTC', 'ETH', 'SOL', 'ADA', 'DOT'].slice(0, Math.max(1, count));
  return bases.map((base, i) =>
    i === 0
      ? btc
      : {
          ...btc,
          shard: `shard-${String(i)}`,
          spec: { ...btc.spec, symbol: `${base}-USD` },
          baseAsset: base,
        },
  );
}

/** N concurrent callers of OrderDesk.place in this process: no gRPC, no auth. */
async function inProcess(
  orders: OrderDesk,
  userIds: number[],
  label: string,
): Promise<WorkerResult> {
  const latencies: number[] = [];
  let failed = 0;
  let seq = 0;
  const measureFrom = performance.now() + WARMUP * 1000;
  const deadline = measureFrom + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let k = 0; performance.now() < deadline; k += 1) {
        const n = ++seq;
        const { symbol, buy, price, quantity } = orderFor(k, c, SYMBOLS);
        const t0 = performance.now();
        try {
          await orders.place(userIds[c % userIds.length] ?? 0, {
            clientOrderId: `${label}-${c}-${n}`,
            symbol,
            side: buy ? 'buy' : 'sell',
            type: 'limit',
            timeInForce: 'GTC',
            price: BigInt(price),
            quantity: BigInt(quantity),
            postOnly: false,
          });
          if (t0 >= measureFrom) latencies.push(performance.now() - t0);
        } catch {
          if (t0 >= measureFrom) failed += 1;
        }
      }
    }),
  );
  return { latencies, failed, seconds: SECONDS, cpuSeconds: 0 };
}

/** Workers do not inherit tsx's loader: register it, then load this file as the worker. */
const WORKER_BOOTSTRAP = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
     register();
     await import(${JSON.stringify(import.meta.url)});`,
  )}`,
);

interface WorkerJob {
  readonly client: ClientKind;
  readonly warmup: number;
  readonly address: string;
  readonly tokens: string[];
  readonly clients: number;
  /** Global number of this worker's first client (client `c` of the worker is `first + c`). */
  readonly first: number;
  /** Orders go on OrderEntry streams instead of unary calls. */
  readonly stream: boolean;
  readonly symbols: readonly string[];
  readonly seconds: number;
  readonly label: string;
}

interface WorkerResult {
  readonly latencies: number[];
  readonly failed: number;
  /** CPU seconds of the worker's own thread over the measured window. */
  readonly cpuSeconds: number;
  /** Length of the measured window (after the warm-up). */
  readonly seconds: number;
}

type ClientKind = 'grpc-js' | 'h2';

/**
 * Places one order for `client` (which picks its connection) as user `token`; resolves to
 * whether it was acknowledged (gRPC OK).
 */
type Place = (client: number, order: PlaceOrderRequest, token: number) => Promise<boolean>;

/**
 * The calls of one worker's clients, over two connections (as two API pods would hold):
 * `grpc-js` is a full client as a third-party caller would use; `h2` sends the same gRPC
 * requests from Node's bare HTTP/2 client, a load generator that leaves the cores to the server.
 */
function placer(job: WorkerJob): { place: Place; close: () => void } {
  if (job.stream) return streamPlacer(job);
  if (job.client === 'h2') {
    const connections = [new H2GrpcClient(job.address), new H2GrpcClient(job.address)];
    const auth = job.tokens.map((token) => `Bearer ${token}`);
    const path = `/${OrderService.typeName}/${OrderService.method.placeOrder.name}`;
    return {
      place: async (connection, order, token) => {
        const answer = await connections[connection % 2]!.unary(
          path,
          toBinary(PlaceOrderRequestSchema, order),
          auth[token % auth.length]!,
        );
        return answer.status === 0;
      },
      close: () => {
        for (const connection of connections) connection.close();
      },
    };
  }
  const channels = Array.from({ length: 2 }, () => grpcClient(job.address, OrderService));
  const auth = job.tokens.map((token) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  });
  return {
    place: async (connection, order, token) => {
      const { error } = await unary(
        channels[connection % 2]!,
        'placeOrder',
        order,
        auth[token % auth.length],
      );
      return error === null;
    },
    close: () => {
      for (const channel of channels) channel.close();
    },
  };
}

/**
 * Orders on OrderEntry streams from Node's bare HTTP/2 client: one stream per client (user
 * `client`), over two connections, one order in flight on each. An answer is read only as far
 * as its result's field number (placed = 2, error = 5), as the unary clients read only the
 * status.
 */
function streamPlacer(job: WorkerJob): { place: Place; close: () => void } {
  const connections = [new H2GrpcClient(job.address), new H2GrpcClient(job.address)];
  const path = `/${OrderService.typeName}/${OrderService.method.orderEntry.name}`;
  const streams = new Map<number, { stream: H2GrpcStream; answered?: (ok: boolean) => void }>();
  const open = (client: number, user: number) => {
    const token = job.tokens[user % job.tokens.length] ?? '';
    const entry: { stream: H2GrpcStream; answered?: (ok: boolean) => void } = {
      stream: connections[client % 2]!.stream(path, `Bearer ${token}`),
    };
    entry.stream.onMessage((message) => {
      entry.answered?.(resultField(message) === 2);
    });
    void entry.stream.closed.then(() => entry.answered?.(false));
    streams.set(client, entry);
    return entry;
  };
  let requestId = 0n;
  return {
    place: (client, order, user) => {
      const entry = streams.get(client) ?? open(client, user);
      return new Promise<boolean>((resolve) => {
        entry.answered = resolve;
        requestId += 1n;
        entry.stream.send(
          toBinary(
            OrderEntryRequestSchema,
            create(OrderEntryRequestSchema, {
              requestId,
              command: { case: 'place', value: order },
            }),
          ),
        );
      });
    },
    close: () => {
      for (const { stream } of streams.values()) stream.end();
      for (const connection of connections) connection.close();
    },
  };
}

/** The field number of an OrderEntryResponse's result: after request_id (field 1, a varint). */
function resultField(message: Buffer): number {
  let i = 0;
  if (message[i] === 0x08) {
    i += 1;
    while ((message[i] ?? 0) & 0x80) i += 1;
    i += 1;
  }
  return (message[i] ?? 0) >> 3;
}

/** Clients of one worker: many calls in flight on each of its connections. */
async function clientWorker(job: WorkerJob): Promise<WorkerResult> {
  const { place, close } = placer(job);
  const latencies: number[] = [];
  let failed = 0;
  let seq = 0;
  const measureFrom = performance.now() + job.warmup * 1000;
  const deadline = measureFrom + job.seconds * 1000;
  let cpuFrom = 0;
  const cpuTimer = setTimeout(() => {
    cpuFrom = threadCpuSeconds();
  }, job.warmup * 1000);
  await Promise.all(
    Array.from({ length: job.clients }, async (_, c) => {
      for (let k = 0; performance.now() < deadline; k += 1) {
        const n = ++seq;
        const { symbol, buy, price, quantity } = orderFor(k, job.first + c, job.symbols);
        const t0 = performance.now();
        const ok = await place(
          c,
          create(PlaceOrderRequestSchema, {
            clientOrderId: `${job.label}-${c}-${n}`,
            symbol,
            side: buy ? Side.BUY : Side.SELL,
            type: OrderType.LIMIT,
            timeInForce: TimeInForce.GTC,
            price: BigInt(price),
            quantity: BigInt(quantity),
          }),
          job.first + c,
        );
        if (t0 < measureFrom) continue;
        if (ok) latencies.push(performance.now() - t0);
        else failed += 1;
      }
    }),
  );
  close();
  const cpuSeconds = threadCpuSeconds() - cpuFrom;
  clearTimeout(cpuTimer);
  return { latencies, failed, seconds: job.seconds, cpuSeconds };
}

/** The batching of the baselines: one transaction per order, one at a time. */
const ONE_PER_ORDER: OrdersSettings['batching'] = {
  maxBatchSize: 1,
  maxBatchDelayMs: 0,
  connections: 1,
};

/** Every run of the benchmark, in the order they run. */
const RUNS = {
  stream: () => run('stream', DEFAULT_ORDERS_SETTINGS.batching, 'stream'),
  'stream-baseline': () => run('stream-baseline', ONE_PER_ORDER, 'stream'),
  batched: () => run('batched', DEFAULT_ORDERS_SETTINGS.batching),
  baseline: () => run('baseline', ONE_PER_ORDER),
  transport: () => run('transport', DEFAULT_ORDERS_SETTINGS.batching, 'transport'),
  'stream-transport': () =>
    run('stream-transport', DEFAULT_ORDERS_SETTINGS.batching, 'stream-transport'),
  'in-process': () => run('in-process', DEFAULT_ORDERS_SETTINGS.batching, 'in-process'),
  'stream-traced': () => tracedRun('stream-traced', 'stream'),
} satisfies Record<string, () => Promise<RunResult>>;

/**
 * A run in a child process of this file preloaded with the service's telemetry
 * (src/telemetry/instrument.ts, as `npm start` does); its last line is the run's JSON.
 */
async function tracedRun(label: string, run: 'stream'): Promise<RunResult> {
  const args = [
    '--import',
    'tsx',
    '--import',
    fileURLToPath(new URL('../src/telemetry/instrument.ts', import.meta.url)),
    fileURLToPath(import.meta.url),
    ...['--only', run, '--expect-tracing', '--clients', String(CLIENTS)],
    ...['--seconds', String(SECONDS)],
    ...['--warmup', String(WARMUP), '--users', String(USERS), '--workers', String(WORKERS)],
    ...['--symbols', String(MARKETS.length), '--client', CLIENT, '--database', DATABASE_URL],
    ...(REDIS_URL === undefined ? ['--stream-log', 'memory'] : ['--redis', REDIS_URL]),
  ];
  const child = spawn(process.execPath, args, {
    // As deployed: telemetry on, nothing exported, quiet logs; the sampler as configured
    // (OTEL_TRACES_SAMPLER, every span by default).
    env: { ...process.env, TELEMETRY_ENABLED: 'true', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const last = output.trimEnd().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`${label}: the child run failed (exit ${code}):\n${output}`);
  }
  const {
    bench: _bench,
    run: _run,
    ...result
  } = JSON.parse(last) as RunResult & {
    bench: string;
    run: string;
  };
  console.log(label, result);
  return result;
}

const isRun = (name: string): name is keyof typeof RUNS => Object.hasOwn(RUNS, name);

async function main(): Promise<void> {
  if (values['expect-tracing']) {
    // A registered provider gives every span a valid context, sampled or not; without one,
    // spans are the API's no-op.
    const probe = trace.getTracer('bench').startSpan('probe');
    probe.end();
    if (!isSpanContextValid(probe.spanContext())) {
      throw new Error('--expect-tracing: no tracer provider is registered in this process');
    }
  }
  if (ONLY !== undefined) {
    // One run (or its median over --repeat); its figures as the JSON line.
    if (!isRun(ONLY)) throw new Error(`--only: one of ${Object.keys(RUNS).join(', ')}`);
    const [only] = await repeated([RUNS[ONLY]]);
    if (REPEAT > 1 && only !== undefined) console.log(`${ONLY} median of ${REPEAT}`, only);
    console.log(JSON.stringify({ bench: 'orders', run: ONLY, ...only }));
    return;
  }
  const names = Object.keys(RUNS) as (keyof typeof RUNS)[];
  const results = await repeated(names.map((name) => RUNS[name]));
  const r = Object.fromEntries(names.map((name, i) => [name, results[i]])) as Partial<
    Record<keyof typeof RUNS, RunResult>
  >;
  const { stream, batched, baseline, transport, ...rest } = r;
  const streamBaseline = rest['stream-baseline'];
  const streamTransport = rest['stream-transport'];
  const local = rest['in-process'];
  const traced = rest['stream-traced'];
  if (
    stream === undefined ||
    streamBaseline === undefined ||
    batched === undefined ||
    baseline === undefined ||
    transport === undefined ||
    streamTransport === undefined ||
    local === undefined ||
    traced === undefined
  ) {
    throw new Error('a run is missing');
  }
  if (REPEAT > 1) {
    for (const [name, result] of Object.entries(r)) {
      console.log(`${name} median of ${REPEAT}`, result);
    }
  }
  const speedup = (a: RunResult, b: RunResult) =>
    Math.round((a.perSecond / Math.max(1, b.perSecond)) * 10) / 10;
  console.log(
    JSON.stringify({
      bench: 'orders',
      clients: CLIENTS,
      seconds: SECONDS,
      warmup_s: WARMUP,
      // The headline: OrderEntry streams (one per client, one order in flight on each), the
      // API for a sustained flow of orders, batched as configured, against the same streams
      // with one transaction per order.
      orders_per_s: stream.perSecond,
      p50_ms: stream.p50Ms,
      p99_ms: stream.p99Ms,
      failed: stream.failed,
      batch_size_mean: stream.batchMean,
      // Where a committed batch's time went, mean ms per step (read, plan, wait, write, commit).
      batch_steps_ms: stream.batchStepsMs,
      baseline_orders_per_s: streamBaseline.perSecond,
      baseline_p50_ms: streamBaseline.p50Ms,
      baseline_p99_ms: streamBaseline.p99Ms,
      speedup: speedup(stream, streamBaseline),
      // With --repeat N: every figure is the median of N runs.
      repeat: REPEAT,
      // CPU µs per order (server main thread / client threads / other threads / PostgreSQL /
      // Redis).
      cpu_us_per_order: stream.cpu,
      // The same orders as unary PlaceOrder calls (a call set up per order).
      unary_orders_per_s: batched.perSecond,
      unary_p50_ms: batched.p50Ms,
      unary_p99_ms: batched.p99Ms,
      unary_failed: batched.failed,
      unary_batch_size_mean: batched.batchMean,
      unary_baseline_orders_per_s: baseline.perSecond,
      unary_baseline_p99_ms: baseline.p99Ms,
      unary_speedup: speedup(batched, baseline),
      unary_cpu_us_per_order: batched.cpu,
      // The same calls to an engine that commits nothing: gRPC's ceiling on this machine.
      stream_transport_ceiling_orders_per_s: streamTransport.perSecond,
      stream_transport_p99_ms: streamTransport.p99Ms,
      stream_transport_cpu_us_per_order: streamTransport.cpu,
      unary_transport_ceiling_orders_per_s: transport.perSecond,
      unary_transport_p99_ms: transport.p99Ms,
      unary_transport_cpu_us_per_order: transport.cpu,
      in_process_orders_per_s: local.perSecond,
      in_process_p50_ms: local.p50Ms,
      in_process_p99_ms: local.p99Ms,
      in_process_batch_size_mean: local.batchMean,
      // The headline's streams with telemetry on, as shipped, and what it keeps of the
      // headline's rate (the design's target for observability: at least 0.9).
      traced_orders_per_s: traced.perSecond,
      traced_p50_ms: traced.p50Ms,
      traced_p99_ms: traced.p99Ms,
      traced_failed: traced.failed,
      traced_cpu_us_per_order: traced.cpu,
      traced_batch_steps_ms: traced.batchStepsMs,
      traced_ratio: Math.round((traced.perSecond / Math.max(1, stream.perSecond)) * 100) / 100,
      node: process.version,
    }),
  );
}

/**
 * Every run REPEAT times, in turn, so a drift of the host's speed touches all of them alike;
 * per run, the median of each figure (of the failures, the most).
 */
async function repeated(runs: readonly (() => Promise<RunResult>)[]): Promise<RunResult[]> {
  const results: RunResult[][] = runs.map(() => []);
  for (let round = 0; round < REPEAT; round++) {
    for (const [i, next] of runs.entries()) results[i]?.push(await next());
  }
  return results.map((all) => {
    const median = (pick: (r: RunResult) => number) => {
      const sorted = all.map(pick).sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)] ?? 0;
    };
    return {
      orders: median((r) => r.orders),
      failed: Math.max(...all.map((r) => r.failed)),
      perSecond: median((r) => r.perSecond),
      p50Ms: median((r) => r.p50Ms),
      p99Ms: median((r) => r.p99Ms),
      batchMean: median((r) => r.batchMean),
      batchStepsMs: Object.fromEntries(
        BATCH_STEPS.map((step) => [step, median((r) => r.batchStepsMs[step])]),
      ) as BatchStepsMs,
      cpu: {
        server: median((r) => r.cpu.server),
        clients: median((r) => r.cpu.clients),
        helpers: median((r) => r.cpu.helpers),
        postgres: median((r) => r.cpu.postgres),
        redis: median((r) => r.cpu.redis),
      },
    };
  });
}

if (isMainThread) {
  await main();
} else {
  parentPort?.postMessage(await clientWorker(workerData as WorkerJob));
}

/** With --revocations on: the revoked-session set as deployed (shared store, 1 s polls). */
async function revokedSessions(
  redis: RedisConnection | undefined,
  registry: Registry,
): Promise<RevokedSessions | undefined> {
  if (values.revocations !== 'on') return undefined;
  const store =
    redis === undefined
      ? new MemorySessionRevocations()
      : new RedisSessionRevocations({
          redis: redis.client,
          policy: redis.policy,
          retainMs: 3_600_000,
        });
  const revoked = new RevokedSessions(
    { store, clock: systemClock, logger, registry },
    { pollIntervalMs: 1_000, accessTokenTtlMs: 3_600_000 },
  );
  for (let i = 0; i < 1_000; i += 1) await revoked.revoke(randomUUID());
  await revoked.start();
  revokedPoller?.close();
  revokedPoller = revoked;
  return revoked;
}
