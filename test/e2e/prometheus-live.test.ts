// The alert rules against a real Prometheus (Debian's `prometheus` package) scraping two real
// app processes ("pods" a and b of one deployment) on loopback: the shipped rule files with
// only their `for:` shortened, real conditions provoked (an order breaking a database
// constraint, a process killed with its clients migrating to the other, PostgreSQL cut under
// the survivor, the last process killed), and the
// alerts' states and the recording rules' values read from Prometheus's HTTP API.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type Client } from '@grpc/grpc-js';
import pg from 'pg';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { eventually } from '../support/eventually.js';
import { dropRedisKeys, dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { deploymentEnv, freePort, spawnApp, type AppProcess } from '../support/process.js';
import { signUp, subscribe, type StreamRecorder } from '../support/stream-client.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const CLIENTS = 40;
/** The alerts the tests below bring about. */
const PROVOKED = [
  'TradingPlatformEngineConstraintViolated',
  'TradingPlatformTargetDown',
  'TradingPlatformStreamReconnectStorm',
  'TradingPlatformCircuitBreakerOpen',
  'TradingPlatformDependencyDown',
  'TradingPlatformStreamNoPodReady',
  'TradingPlatformDown',
];
const hasPrometheus = !spawnSync('prometheus', ['--version']).error;
if (!hasPrometheus && process.env.CI) throw new Error('prometheus is required on CI (apt-get)');

const schema = uniqueName('promlive');
const pgProxy = new TcpProxy('127.0.0.1', 5432);
let dir = '';
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let podA: AppProcess | undefined;
let podB: AppProcess | undefined;
const clients: Client[] = [];

/** The repo's rule files with every `for:` set to 1s; each expression is left as shipped. */
async function shortenedRules(into: string): Promise<string[]> {
  const files = (await readdir('alerts')).filter((name) => name.endsWith('.rules.yml'));
  return Promise.all(
    files.map(async (name) => {
      const shipped = await readFile(join('alerts', name), 'utf8');
      const shortened = shipped.replace(/^(\s+for:) \S+$/gm, '$1 1s');
      // Only `for:` lines differ.
      const changed = shipped.split('\n').filter((line, i) => line !== shortened.split('\n')[i]);
      assert.ok(changed.every((line) => /^\s+for: /.test(line)));
      const path = join(into, name);
      await writeFile(path, shortened);
      return path;
    }),
  );
}

before(async () => {
  if (!hasPrometheus) return;
  dir = await mkdtemp(join(tmpdir(), 'tp-prometheus-'));
  await pgProxy.start();
  const shared = {
    ...deploymentEnv(schema, join(dir, 'app')),
    PG_POOL_MAX: '3',
    TELEMETRY_ENABLED: 'false',
    LOG_LEVEL: 'info',
    // The test's clients do not answer heartbeats: none is sent while the test runs, so no
    // stream is classed poor or closed as idle behind its back.
    STREAM_HEARTBEAT_INTERVAL_MS: '600000',
    STREAM_IDLE_TIMEOUT_MS: '3600000',
  };
  [podA, podB] = await Promise.all([
    spawnApp({ ...shared, ROLE: 'all', POD_NAME: 'pod-a' }),
    // b reaches PostgreSQL through a proxy the test can cut.
    spawnApp({
      ...shared,
      ROLE: 'all',
      POD_NAME: 'pod-b',
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pgProxy.port}/test`,
    }),
  ]);

  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  const target = (app: AppProcess, pod: string) => ({
    targets: [new URL(app.httpUrl).host],
    labels: { namespace: 'e2e', pod },
  });
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
    rule_files: await shortenedRules(dir),
    scrape_configs: [
      { job_name: 'trading-platform', static_configs: [target(podA, 'a'), target(podB, 'b')] },
    ],
  };
  // JSON is YAML.
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr?.resume();
  await Promise.all([
    podA.waitForLog('app started', 60_000),
    podB.waitForLog('app started', 60_000),
  ]);
  await until('Prometheus ready', async () => (await fetch(`${prometheusUrl}/-/ready`)).ok);
});

after(async () => {
  for (const client of clients) client.close();
  for (const child of [prometheus, podA?.child, podB?.child]) {
    if (child?.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  await pgProxy.cut();
  await dropSchema(TEST_DATABASE_URL, schema);
  await dropRedisKeys(`${schema}:`);
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const until = (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) =>
  eventually(what, check, timeoutMs);

interface ApiAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

async function alerts(): Promise<ApiAlert[]> {
  const body = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as {
    data: { alerts: ApiAlert[] };
  };
  return body.data.alerts;
}

/** Waits until an alert with these labels fires; returns every state it was seen in. */
async function firing(labels: Record<string, string>): Promise<Set<string>> {
  const seen = new Set<string>();
  await until(`${JSON.stringify(labels)} firing`, async () => {
    for (const alert of await alerts()) {
      if (Object.entries(labels).every(([k, v]) => alert.labels[k] === v)) seen.add(alert.state);
    }
    return seen.has('firing');
  });
  return seen;
}

async function instant(
  query: string,
): Promise<{ metric: Record<string, string>; value: number }[]> {
  const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`;
  const body = (await (await fetch(url)).json()) as {
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

let streams: StreamRecorder<SubscribeResponse>[] = [];

test('recording rules record the streams of both processes', { skip: !hasPrometheus }, async () => {
  assert.ok(podA);
  const market = grpcClient(podA.grpcAddress, MarketDataService);
  clients.push(market);
  streams = Array.from({ length: CLIENTS }, () =>
    subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] }),
  );
  await Promise.all(streams.map((s) => s.until(() => s.messages.length >= 2, 'the start')));

  await until('40 streams recorded', async () => {
    const [sum] = await instant('namespace_job:stream_connections:sum');
    return sum?.value === CLIENTS;
  });
  const [ratio] = await instant('namespace_job:stream_connections_poor_or_offline:ratio');
  assert.deepEqual(ratio?.metric, {
    __name__: 'namespace_job:stream_connections_poor_or_offline:ratio',
    job: 'trading-platform',
    namespace: 'e2e',
  });
  assert.equal(ratio.value, 0);
  // None of what the tests below provoke stays active once both targets are scraped. Before
  // the first scrape `absent(up)` holds, and with every `for:` at 1s TradingPlatformDown fires
  // until the alert group's next evaluation, which may come after the recording group's; a
  // scrape timing out on a loaded host does the same. So this waits for the alerts to clear
  // instead of reading them once. (TradingPlatformEventLoopLag is not asserted: a busy start-up
  // can trip it.)
  const provoked = new Set(PROVOKED);
  let active: string[] = [];
  await until('no provoked alert active', async () => {
    const up = await instant('up{job="trading-platform"} == 1');
    active = (await alerts())
      .map((a) => a.labels.alertname ?? '')
      .filter((name) => provoked.has(name));
    return up.length === 2 && active.length === 0;
  }).catch((error: unknown) => {
    throw new Error(`still active: ${active.join(', ')}`, { cause: error });
  });
});

test(
  'a command breaking a database invariant is counted as a bug and the alert fires',
  { skip: !hasPrometheus },
  async () => {
    assert.ok(podA && podB);
    // An invariant of the platform's own, as a bug of the engine's planning would break one.
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    await db.query(
      `ALTER TABLE "${schema}".orders ADD CONSTRAINT e2e_invariant CHECK (price <> 59000)`,
    );
    try {
      // One of the two processes leads the shard; the other answers UNAVAILABLE.
      const codes: (number | undefined)[] = [];
      for (const [i, pod] of [podA, podB].entries()) {
        const { auth } = await signUp(pod.grpcAddress, `invariant-${i}`);
        const orders = grpcClient(pod.grpcAddress, OrderService);
        clients.push(orders);
        const placed = await unary(
          orders,
          'placeOrder',
          placeRequest(`invariant-${i}`, { price: 59_000n }),
          auth,
        );
        codes.push(placed.error?.code);
      }
      assert.ok(codes.includes(status.INTERNAL), `codes ${codes.join(', ')}`);

      const states = await firing({
        alertname: 'TradingPlatformEngineConstraintViolated',
        namespace: 'e2e',
        sqlstate: '23514',
      });
      assert.ok(states.has('firing'));
    } finally {
      await db.query(`ALTER TABLE "${schema}".orders DROP CONSTRAINT e2e_invariant`);
      await db.end();
    }
  },
);

test(
  'a killed process: its target goes down and its clients migrate in a storm',
  { skip: !hasPrometheus },
  async () => {
    assert.ok(podA && podB);
    podA.child.kill('SIGKILL');
    await podA.exited;
    const market = grpcClient(podB.grpcAddress, MarketDataService);
    clients.push(market);
    const resumed = streams.map((s) =>
      subscribe<SubscribeResponse>(market, 'subscribe', {
        symbols: ['BTC-USD'],
        sessionId: s.messages[0]?.sessionId,
        positions: s.positions(),
      }),
    );
    await Promise.all(resumed.map((s) => s.until(() => s.messages.length > 0, 'the resume')));
    assert.ok(resumed.every((s) => s.messages[0]?.pod === 'pod-b'));

    await firing({ alertname: 'TradingPlatformTargetDown', pod: 'a' });
    const migrations = await firing({
      alertname: 'TradingPlatformStreamReconnectStorm',
      signal: 'migrations',
    });
    await firing({ alertname: 'TradingPlatformStreamReconnectStorm', signal: 'resumes' });
    assert.ok(migrations.has('firing'));
    const [rate] = await instant('namespace_job:session_migrations:rate5m');
    assert.ok((rate?.value ?? 0) > 0.03, `migrations/s ${String(rate?.value)}`);
    // One process still serves streams.
    assert.ok(
      !(await alerts()).some((a) => a.labels.alertname === 'TradingPlatformStreamNoPodReady'),
    );
    for (const s of resumed) s.call.cancel();
  },
);

test(
  'PostgreSQL cut under the survivor: its breaker opens and the alert fires',
  { skip: !hasPrometheus },
  async () => {
    assert.ok(podB);
    await pgProxy.cut();
    const auth = grpcClient(podB.grpcAddress, AuthService);
    clients.push(auth);
    // Calls that need PostgreSQL open the breaker, and keep being refused by it.
    const stop = new AbortController();
    const calling = (async () => {
      for (let i = 0; !stop.signal.aborted && i < 200; i += 1) {
        await unary(auth, 'register', { username: `cut-${i}`, password: 'long enough password' });
        await sleep(200);
      }
    })();
    const states = await firing({
      alertname: 'TradingPlatformCircuitBreakerOpen',
      dependency: 'postgres',
      severity: 'critical',
    });
    assert.ok(states.has('firing'));
    await firing({ alertname: 'TradingPlatformDependencyDown', dependency: 'postgres' });
    stop.abort();
    await calling;
    await pgProxy.restore();
  },
);

test(
  'the last stream process gone: no stream pod serves, and the job is down',
  { skip: !hasPrometheus },
  async () => {
    assert.ok(podB);
    podB.child.kill('SIGKILL');
    await podB.exited;
    await firing({ alertname: 'TradingPlatformStreamNoPodReady', namespace: 'e2e' });
    await firing({ alertname: 'TradingPlatformDown', namespace: 'e2e' });
  },
);
