import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { exposedMetrics, queriedMetrics } from '../../dashboards/queried-metrics.js';
import { renderDashboards } from '../../dashboards/render.js';
import {
  dropRedisKeys,
  dropSchema,
  sample,
  startTestApp,
  TEST_DATABASE_URL,
  uniqueName,
  type TestApp,
} from '../support/app.js';
import { deploymentEnv, spawnApp, type AppProcess } from '../support/process.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { grpcClient } from '../support/grpc.js';
import { subscribe } from '../support/stream-client.js';

/**
 * Every series a dashboard queries must be on the /metrics page of a real process. No single
 * role exposes them all, so the dashboards are held to the three roles together:
 * - ROLE=all (in this process, with the market simulator on): the api, the engine shards with
 *   leader election (PostgreSQL), the outbox relay and simulator_*; its engine is in-process,
 *   so it has no grpc_client_* and no engine breaker;
 * - ROLE=engine (a real process): EngineService, the shards and engine_leader;
 * - ROLE=api (a real process) calling that engine: grpc_client_* and the `engine` policy.
 * The engine and api processes share a schema, Redis prefix and data directory, as a
 * deployment's pods do. The same three pages hold docs/metrics.md to what they expose.
 */

interface Role {
  readonly role: string;
  readonly httpUrl: string;
}

let allStarting: Promise<TestApp> | undefined;
let all: TestApp | undefined;
let engine: AppProcess | undefined;
let api: AppProcess | undefined;
const schema = uniqueName('dashroles');
let dataDir: string | undefined;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tp-dashboards-'));
  const shared = {
    ...deploymentEnv(schema, dataDir),
    PG_POOL_MAX: '4',
    TELEMETRY_ENABLED: 'false',
    LOG_LEVEL: 'info',
  };
  // All three start at once: the api connects to the engine lazily, and concurrent migrations
  // of the shared schema wait on each other's lock.
  allStarting = startTestApp({ ROLE: 'all', SIMULATOR_ENABLED: 'true' }).then((app) => {
    all = app;
    return app;
  });
  engine = await spawnApp({ ...shared, ROLE: 'engine', POD_NAME: 'engine-0' });
  api = await spawnApp({
    ...shared,
    ROLE: 'api',
    POD_NAME: 'api-0',
    ENGINE_ADDRESS: `ipv4:${engine.grpcAddress}`,
  });
  await Promise.all([
    allStarting,
    engine.waitForLog('app started', 60_000),
    api.waitForLog('app started', 60_000),
  ]);
});

after(async () => {
  await allStarting?.catch(() => undefined);
  await all?.stop();
  for (const child of [api, engine]) child?.child.kill('SIGKILL');
  await Promise.all([api?.exited, engine?.exited]);
  await dropSchema(TEST_DATABASE_URL, schema);
  await dropRedisKeys(`${schema}:`);
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

function roles(): Role[] {
  assert.ok(all && engine && api, 'every role started');
  return [
    { role: 'all', httpUrl: all.httpUrl },
    { role: 'engine', httpUrl: engine.httpUrl },
    { role: 'api', httpUrl: api.httpUrl },
  ];
}

/** Series a dashboard may query that no /metrics page has: `up` is Prometheus's own, per target. */
const NOT_ON_METRICS_PAGES = new Set(['up']);

/** Opens a market-data stream on ROLE=all until its snapshot arrives, so stream series exist. */
async function exerciseStreams(grpcAddress: string): Promise<void> {
  const market = grpcClient(grpcAddress, MarketDataService);
  try {
    const stream = subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] });
    await stream.until(() => stream.messages.length > 0, 'the first stream message');
    stream.call.cancel();
  } finally {
    market.close();
  }
}

const scrape = async ({ httpUrl }: Role): Promise<string> =>
  (await fetch(`${httpUrl}/metrics`)).text();

const dashboards = readdirSync('dashboards')
  .filter((name) => name.endsWith('.json'))
  .map((name) => ({
    name,
    json: JSON.parse(readFileSync(`dashboards/${name}`, 'utf8')) as unknown,
  }));

test('every generated dashboard is checked', () => {
  const names = dashboards.map(({ name }) => name);
  for (const { path } of renderDashboards()) assert.ok(names.includes(basename(path)), path);
});

test('the api and engine roles expose what ROLE=all cannot', async () => {
  const [allText = '', engineText = '', apiText = ''] = await Promise.all(roles().map(scrape));
  const engineCalls = { grpc_service: 'trading.internal.v1.EngineService', grpc_code: 'OK' };
  assert.equal(sample(apiText, 'grpc_client_handled_total', engineCalls), 0);
  assert.equal(sample(apiText, 'circuit_breaker_state', { dependency: 'engine' }), 0);
  assert.equal(sample(allText, 'grpc_client_handled_total', engineCalls), undefined);
  // The only engine process leads every shard; ROLE=all leads its own schema's shards.
  assert.equal(sample(engineText, 'engine_leader', {}), 1);
  assert.equal(sample(allText, 'engine_leader', {}), 1);
});

for (const { name, json } of dashboards) {
  test(`every metric ${name} queries is exposed on /metrics by one of the roles`, async () => {
    const queried = queriedMetrics(json);
    assert.ok(queried.length >= 5, 'the dashboard queries metrics');
    assert.ok(all, 'ROLE=all started');
    await exerciseStreams(all.grpcAddress);
    const exposed = await Promise.all(
      roles().map(async (role) => exposedMetrics(await scrape(role))),
    );
    const isExposed = (metric: string) => exposed.some((names) => names.has(metric));
    const missing = queried.filter(
      (metric) => !isExposed(metric) && !NOT_ON_METRICS_PAGES.has(metric),
    );
    assert.deepEqual(missing, [], 'queried, but on no /metrics page of ROLE=all, engine or api');
  });
}

/** Metric families by name and type, from the TYPE lines of a /metrics page. */
const families = (metricsText: string): Map<string, string> =>
  new Map(
    [...metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name = '', type = '']) => [
      name,
      type,
    ]),
  );

const PROM_CLIENT_DEFAULTS = await (async () => {
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  return new Set((await defaults.getMetricsAsJSON()).map((metric) => metric.name));
})();

test('docs/metrics.md catalogs exactly the metrics the roles expose, with their types', async () => {
  const exposed = new Map<string, string>();
  for (const role of roles()) {
    for (const [name, type] of families(await scrape(role))) {
      // prom-client's defaults, described there as a group.
      if (!PROM_CLIENT_DEFAULTS.has(name)) exposed.set(name, type);
    }
  }
  const catalog = new Map(
    [...readFileSync('docs/metrics.md', 'utf8').matchAll(/^\| `(\w+)` +\| (\w+) /gm)].map(
      ([, name = '', type = '']) => [name, type],
    ),
  );

  const byName = (entries: Map<string, string>) =>
    [...entries].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, type]) => `${name} ${type}`);
  assert.deepEqual(byName(catalog), byName(exposed));
});
