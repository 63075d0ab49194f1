// A stream pod's drain as a real Prometheus (Debian's `prometheus` package) sees it: the pod is
// SIGTERMed with streams open, drains them, and waits (STREAM_DRAIN_LINGER_MS) for the scrape
// that reads `stream_drain_seconds` before it exits. The drain panels of the Sessions & pod
// migrations dashboard and the shipped TradingPlatformStreamDrainTooLong expression are then
// evaluated over what Prometheus stored.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { status, type Client } from '@grpc/grpc-js';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { dashboardQueries, withWindow } from '../../src/tools/chaos/dashboard-panels.js';
import { ChaosPrometheus } from '../../src/tools/chaos/prometheus.js';
import { eventually } from '../support/eventually.js';
import { dropRedisKeys, dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { grpcClient } from '../support/grpc.js';
import { deploymentEnv, freePort, spawnApp, type AppProcess } from '../support/process.js';
import { subscribe, type StreamRecorder } from '../support/stream-client.js';

const hasPrometheus = !spawnSync('prometheus', ['--version']).error;
if (!hasPrometheus && process.env.CI) throw new Error('prometheus is required on CI (apt-get)');

const CLIENTS = 20;
const WINDOW_MS = 6_000;
/** Far longer than a 1 s scrape interval: only a missing scrape would let it run out. */
const LINGER_MS = 30_000;
const SCRAPE_INTERVAL_S = 1;

const until = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) =>
  eventually(what, check, timeoutMs);

/** The raw samples of a series over the last `range`, as Prometheus stored them. */
async function rawSamples(
  url: string,
  selector: string,
  range: string,
): Promise<[number, number][]> {
  const params = new URLSearchParams({ query: `${selector}[${range}]` });
  const body = (await (await fetch(`${url}/api/v1/query?${params.toString()}`)).json()) as {
    data: { result: { values: [number, string][] }[] };
  };
  assert.equal(body.data.result.length, 1, `one series for ${selector}`);
  return (body.data.result[0]?.values ?? []).map(([t, v]): [number, number] => [t, Number(v)]);
}

/** The expression of one alert rule, as shipped. */
async function alertExpr(name: string): Promise<string> {
  const rules = await readFile('alerts/streams.rules.yml', 'utf8');
  const block = new RegExp(`- alert: ${name}\\n\\s+expr: \\|\\n((?:\\s{10}.+\\n)+)`).exec(rules);
  assert.ok(block?.[1] !== undefined, `${name} has an expression`);
  return block[1].trim();
}

test(
  'a SIGTERMed stream pod waits for the scrape that reads its drain: Prometheus holds it, the drain panels show it, the drain alert evaluates it',
  { skip: !hasPrometheus, timeout: 300_000 },
  async (t) => {
    const schema = uniqueName('promdrain');
    const dir = await mkdtemp(join(tmpdir(), 'tp-prometheus-drain-'));
    const clients: Client[] = [];
    const started: { pod?: AppProcess; prometheus?: ChaosPrometheus } = {};
    t.after(async () => {
      for (const client of clients) client.close();
      const child = started.pod?.child;
      if (child?.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
      await started.prometheus?.stop();
      await dropSchema(TEST_DATABASE_URL, schema);
      await dropRedisKeys(`${schema}:`);
      await rm(dir, { recursive: true, force: true });
    });

    const pod = await spawnApp({
      ...deploymentEnv(schema, join(dir, 'app')),
      ROLE: 'all',
      POD_NAME: 'drain-a',
      PG_POOL_MAX: '3',
      TELEMETRY_ENABLED: 'false',
      LOG_LEVEL: 'info',
      // The test's clients answer no heartbeat: none is sent, so none is closed as idle.
      STREAM_HEARTBEAT_INTERVAL_MS: '600000',
      STREAM_IDLE_TIMEOUT_MS: '3600000',
      SHUTDOWN_TIMEOUT_MS: '60000',
      STREAM_DRAIN_WINDOW_MS: String(WINDOW_MS),
      STREAM_DRAIN_LINGER_MS: String(LINGER_MS),
    });
    const promDir = join(dir, 'prometheus');
    await mkdir(promDir);
    started.pod = pod;
    const prometheus = new ChaosPrometheus({
      dir: promDir,
      port: await freePort(),
      scrapeIntervalS: SCRAPE_INTERVAL_S,
    });
    started.prometheus = prometheus;
    const address = new URL(pod.httpUrl).host;
    await Promise.all([
      pod.waitForLog('app started', 60_000),
      prometheus.start([{ address, namespace: 'e2e', pod: 'a' }]),
    ]);
    const startedS = Date.now() / 1_000;
    const instant = (expr: string, atS = Date.now() / 1_000) => prometheus.query(expr, atS);

    const market = grpcClient(pod.grpcAddress, MarketDataService);
    clients.push(market);
    const streams: StreamRecorder<SubscribeResponse>[] = Array.from({ length: CLIENTS }, () =>
      subscribe<SubscribeResponse>(market, 'subscribe', { symbols: ['BTC-USD'] }),
    );
    await Promise.all(streams.map((s) => s.until(() => s.messages.length > 0, 'the snapshot')));
    await until('the streams scraped', async () => {
      const [open] = await instant('sum(stream_connections{pod="a"})');
      return Number(open?.value[1]) === CLIENTS;
    });

    pod.child.kill('SIGTERM');
    assert.equal(await pod.exited, 0);
    const drained = pod.lines.find((line) => line.msg === 'stream drain finished');
    const durationS = Number(drained?.duration_s);
    assert.ok(durationS > 0, 'the drain took some time');
    assert.ok(
      pod.lines.some((line) => line.msg === 'last scrape awaited' && line.outcome === 'scraped'),
      'the pod left after a scrape, not at the bound',
    );
    for (const s of streams) {
      assert.equal(s.reconnects.length, 1, 'each client was told to reconnect');
      assert.equal(s.error?.code, status.UNAVAILABLE);
    }

    // What the last scrape read: one drain, in the bucket of the duration the pod logged.
    await until('the drain in Prometheus', async () => {
      const [count] = await instant('last_over_time(stream_drain_seconds_count{pod="a"}[10m])');
      return Number(count?.value[1]) === 1;
    });
    const buckets = (await instant('last_over_time(stream_drain_seconds_bucket{pod="a"}[10m])'))
      .map((s) => ({ le: Number(s.metric.le), count: Number(s.value[1]) }))
      .filter((b) => Number.isFinite(b.le));
    const bucket = Math.min(...buckets.filter((b) => b.count === 1).map((b) => b.le));
    const below = Math.max(0, ...buckets.filter((b) => b.count === 0).map((b) => b.le));
    assert.ok(below < durationS && durationS <= bucket, `${durationS} s in (${below}, ${bucket}]`);

    // The dashboard's drain panels, as Grafana would query them over the test's time range.
    const panels = dashboardQueries(JSON.parse(await readFile('dashboards/sessions.json', 'utf8')));
    const nowS = Date.now() / 1_000;
    const window = {
      startS: startedS,
      endS: nowS,
      stepS: SCRAPE_INTERVAL_S,
      scrapeIntervalS: SCRAPE_INTERVAL_S,
    };
    const panel = (title: string) => {
      const found = panels.find((p) => p.title === title);
      assert.ok(found, `panel ${title}`);
      return found.exprs.map((expr) => withWindow(expr, window));
    };
    const [longest] = panel('Longest drain');
    const [, durationLongest] = panel('Drain duration');
    for (const expr of [longest, durationLongest]) {
      assert.ok(expr !== undefined);
      const [value] = await instant(expr, nowS);
      assert.equal(Number(value?.value[1]), bucket, expr);
    }

    // TradingPlatformStreamDrainTooLong over the pod's shutdown as stored: quiet as shipped
    // (110 s), and with its 110 s cut to the drain's length it finds the draining pod.
    const phases = await rawSamples(prometheus.url, 'shutdown_phase{pod="a"}', '10m');
    const draining = phases.filter(([, phase]) => phase > 0);
    assert.ok(draining.length >= 3, `scraped while draining: ${JSON.stringify(phases.slice(-8))}`);
    const firstS = draining[0]?.[0] ?? 0;
    const lastS = draining.at(-1)?.[0] ?? 0;
    const shipped = await alertExpr('TradingPlatformStreamDrainTooLong');
    assert.match(shipped, /\[110s\]/);
    assert.deepEqual(await instant(shipped, lastS), []);
    const cut = shipped.replaceAll('110s', `${Math.floor(lastS - firstS)}s`);
    const found = await instant(cut, lastS);
    assert.deepEqual(
      found.map((s) => [s.metric.namespace, s.metric.pod, s.metric.instance]),
      [['e2e', 'a', address]],
    );
  },
);
