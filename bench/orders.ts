/**
 * Durable order placement: N concurrent gRPC clients place orders (gRPC → engine shard →
 * PostgreSQL commit → reply) on the real PostgreSQL, once with batching and once with one
 * transaction per order (the baseline), in the same run. Last line: one JSON object.
 *
 *   node --import tsx bench/orders.ts [--clients 64] [--seconds 5] [--database postgres://…]
 *
 * The clients run in worker threads, as separate callers would: their gRPC and protobuf work
 * does not share the server's event loop.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Metadata } from '@grpc/grpc-js';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createPostgres, runMigrations } from '../src/adapters/postgres/index.js';
import { AccessTokens } from '../src/domain/auth/access-tokens.js';
import { systemClock } from '../src/domain/clock.js';
import { Side } from '../src/gen/trading/v1/common_pb.js';
import { OrderService, OrderType, TimeInForce } from '../src/gen/trading/v1/orders_pb.js';
import { Readiness } from '../src/lifecycle/readiness.js';
import { registration, startGrpcServer } from '../src/transport/grpc/server.js';
import {
  createOrders,
  DEFAULT_ORDERS_SETTINGS,
  type OrdersSettings,
} from '../src/wiring/orders.js';
import { grpcClient, unary } from '../test/support/grpc.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    users: { type: 'string', default: '200' },
    workers: { type: 'string', default: '2' },
    database: {
      type: 'string',
      default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const USERS = Number(values.users);
const WORKERS = Number(values.workers);
const DATABASE_URL = values.database;
const logger = pino({ level: 'warn' });

interface RunResult {
  readonly orders: number;
  readonly failed: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly batchMean: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function run(label: string, batching: OrdersSettings['batching']): Promise<RunResult> {
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
     SELECT u, a, 1000000000000000 FROM unnest($1::bigint[]) u, unnest(ARRAY['USD', 'BTC']) a`,
    [userIds],
  );
  const orders = createOrders(
    { ...DEFAULT_ORDERS_SETTINGS, batching },
    {
      postgres,
      logger,
      registry,
      clock: systemClock,
    },
  );
  await orders.start();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const tokens = new AccessTokens(
    { privateKey, publicKey, kid: 'bench' },
    { issuer: 'bench', audience: 'bench', ttlSeconds: 3600 },
    systemClock,
  );
  const server = await startGrpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      logger,
      registry,
      readiness: new Readiness(),
      tls: undefined,
      authenticate: (token) => tokens.verify(token),
    },
    [registration(OrderService, orders.orderRpc)],
  );
  const address = `127.0.0.1:${server.port}`;
  const tokenList = await Promise.all(
    userIds.map(async (userId) => (await tokens.issue({ userId, sessionId: 'bench' })).token),
  );
  const started = performance.now();
  const results = await Promise.all(
    Array.from(
      { length: WORKERS },
      (_, w) =>
        new Promise<WorkerResult>((resolve, reject) => {
          const job: WorkerJob = {
            address,
            tokens: tokenList,
            clients: Math.ceil(CLIENTS / WORKERS),
            seconds: SECONDS,
            label: `${label}-${w}`,
          };
          const worker = new Worker(WORKER_BOOTSTRAP, { workerData: job });
          worker.once('message', (result: WorkerResult) => {
            resolve(result);
          });
          worker.once('error', reject);
        }),
    ),
  );
  const latencies = results.flatMap((r) => r.latencies);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  const elapsed = (performance.now() - started) / 1000;
  const batch = (await registry.getSingleMetricAsString('engine_batch_size'))
    .split('\n')
    .filter((l) => l.startsWith('engine_batch_size_sum') || l.startsWith('engine_batch_size_count'))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
  await server.drain();
  for (const step of orders.closeSteps) await step.run();
  await postgres.close();
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();

  latencies.sort((a, b) => a - b);
  const result = {
    orders: latencies.length,
    failed,
    perSecond: Math.round(latencies.length / elapsed),
    p50Ms: Math.round(percentile(latencies, 50) * 100) / 100,
    p99Ms: Math.round(percentile(latencies, 99) * 100) / 100,
    batchMean: Math.round(((batch[0] ?? 0) / Math.max(1, batch[1] ?? 1)) * 10) / 10,
  };
  console.log(label, result);
  return result;
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
  readonly address: string;
  readonly tokens: string[];
  readonly clients: number;
  readonly seconds: number;
  readonly label: string;
}

interface WorkerResult {
  readonly latencies: number[];
  readonly failed: number;
}

/** Clients of one worker: a few channels (as a few API pods), many calls in flight on each. */
async function clientWorker(job: WorkerJob): Promise<WorkerResult> {
  const channels = Array.from({ length: 2 }, () => grpcClient(job.address, OrderService));
  const auth = job.tokens.map((token) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  });
  const latencies: number[] = [];
  let failed = 0;
  let seq = 0;
  const deadline = performance.now() + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.clients }, async (_, c) => {
      const channel = channels[c % channels.length];
      if (channel === undefined) return;
      while (performance.now() < deadline) {
        const n = ++seq;
        // Prices straddle the mid so that many orders trade; the rest rest.
        const buy = (n + c) % 2 === 0;
        const price = 60_000 + (buy ? 1 : -1) * (((n * 7919) % 40) - 12);
        const t0 = performance.now();
        const { error } = await unary(
          channel,
          'placeOrder',
          {
            clientOrderId: `${job.label}-${c}-${n}`,
            symbol: 'BTC-USD',
            side: buy ? Side.BUY : Side.SELL,
            type: OrderType.LIMIT,
            timeInForce: TimeInForce.GTC,
            price: BigInt(price),
            quantity: BigInt(1 + (n % 3)),
          },
          auth[(n * 31 + c) % auth.length],
        );
        if (error === null) latencies.push(performance.now() - t0);
        else failed += 1;
      }
    }),
  );
  for (const channel of channels) channel.close();
  return { latencies, failed };
}

if (isMainThread) {
  await main();
} else {
  parentPort?.postMessage(await clientWorker(workerData as WorkerJob));
}

async function main(): Promise<void> {
  const batched = await run('batched', DEFAULT_ORDERS_SETTINGS.batching);
  const baseline = await run('baseline', { maxBatchSize: 1, maxBatchDelayMs: 0 });
  console.log(
    JSON.stringify({
      bench: 'orders',
      clients: CLIENTS,
      seconds: SECONDS,
      orders_per_s: batched.perSecond,
      p50_ms: batched.p50Ms,
      p99_ms: batched.p99Ms,
      failed: batched.failed,
      batch_size_mean: batched.batchMean,
      baseline_orders_per_s: baseline.perSecond,
      baseline_p50_ms: baseline.p50Ms,
      baseline_p99_ms: baseline.p99Ms,
      speedup: Math.round((batched.perSecond / Math.max(1, baseline.perSecond)) * 10) / 10,
      node: process.version,
    }),
  );
}
