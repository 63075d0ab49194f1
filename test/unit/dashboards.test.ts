import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import {
  dashboardExpressions,
  exposedMetrics,
  metricsInExpr,
  missingMetrics,
  queriedMetrics,
} from '../../dashboards/queried-metrics.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { renderDashboards } from '../../dashboards/render.js';

test('committed dashboard JSON is what the TypeScript builders generate', () => {
  for (const { path, content } of renderDashboards()) {
    const name = relative(process.cwd(), path);
    assert.ok(existsSync(path), `${name} is missing: run npm run dashboards`);
    assert.ok(
      readFileSync(path, 'utf8') === content,
      `${name} is stale (differs from dashboards/*.ts): run npm run dashboards and commit it`,
    );
  }
});

test('generating twice gives identical output', () => {
  assert.deepEqual(renderDashboards(), renderDashboards());
});

test('every panel has a unique id and every target a refId and the $datasource', () => {
  for (const { content } of renderDashboards()) {
    const dashboard = JSON.parse(content) as {
      panels: {
        id: number;
        type: string;
        datasource?: { uid: string };
        targets?: { refId?: string }[];
      }[];
    };
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.equal(panel.datasource?.uid, '${datasource}');
      for (const target of panel.targets ?? [])
        assert.ok(target.refId, `panel ${panel.id} target without refId`);
    }
  }
});

test('every dashboard query is valid PromQL (parsed by promtool)', (t) => {
  if (spawnSync('promtool', ['--version']).error) {
    if (process.env.CI) assert.fail('promtool is required on CI: apt-get install prometheus');
    t.skip('promtool not installed: apt-get install prometheus');
    return;
  }
  // Grafana substitutes its variables before querying; stand-ins keep the syntax intact.
  const promql = (expr: string): string =>
    expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, 'x');
  const rules = renderDashboards().flatMap(({ content }) =>
    dashboardExpressions(JSON.parse(content)).map((expr, i) => ({
      record: `dashboard:query:${String(i)}`,
      expr: promql(expr),
    })),
  );
  // JSON is YAML, so promtool reads this rule file as is.
  const dir = mkdtempSync(join(tmpdir(), 'dashboards-'));
  try {
    const file = join(dir, 'queries.rules.json');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboards', rules }] }));
    const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('metricsInExpr finds selected series and ignores functions, labels and keywords', () => {
  const expr =
    'histogram_quantile(0.99, sum by (grpc_method, le) (rate(grpc_server_handling_seconds_bucket{job=~"$job", grpc_code=~"Internal|Unknown"}[$__rate_interval])))' +
    ' / ignoring (grpc_code) group_left sum(rate(grpc_server_handled_total{route="/x{y}"}[5m] offset 1h)) or on() vector(0)' +
    ' and label_replace(up, "dst", "$1", "src", "(.*)") > bool 2e-3 + {__name__="app_info"}';
  assert.deepEqual(metricsInExpr(expr).sort(), [
    'app_info',
    'grpc_server_handled_total',
    'grpc_server_handling_seconds_bucket',
    'up',
  ]);
});

test('queriedMetrics reads panel targets, nested row panels and query variables', () => {
  const dashboard = {
    templating: {
      list: [
        { type: 'datasource', query: 'prometheus' },
        { type: 'query', query: 'label_values(app_info{job=~"x"}, pod)' },
        { type: 'query', query: { query: 'label_values(role)', refId: 'A' } },
        { type: 'custom', query: 'a,b' },
      ],
    },
    panels: [
      { type: 'timeseries', targets: [{ expr: 'rate(process_cpu_seconds_total[1m])' }] },
      { type: 'row', panels: [{ targets: [{ expr: 'shutdown_phase > 0' }] }] },
    ],
  };
  assert.deepEqual(queriedMetrics(dashboard), [
    'app_info',
    'process_cpu_seconds_total',
    'shutdown_phase',
  ]);
});

test('exposedMetrics counts samples and the series a TYPE line promises', () => {
  const text = [
    '# HELP grpc_server_handling_seconds Latency',
    '# TYPE grpc_server_handling_seconds histogram',
    '# TYPE app_info gauge',
    'app_info{version="0.1.0",role="all"} 1',
    'process_cpu_seconds_total 0.5',
  ].join('\n');
  const exposed = exposedMetrics(text);
  for (const name of [
    'grpc_server_handling_seconds_bucket',
    'grpc_server_handling_seconds_count',
    'app_info',
    'process_cpu_seconds_total',
  ]) {
    assert.ok(exposed.has(name), name);
  }
});

test('missingMetrics reports queried series the exposition lacks', () => {
  const dashboard = {
    panels: [{ targets: [{ expr: 'sum(rate(grpc_server_handled_total[1m])) + app_info' }] }],
  };
  assert.deepEqual(missingMetrics(dashboard, 'app_info{role="all"} 1\n'), [
    'grpc_server_handled_total',
  ]);
  assert.deepEqual(
    missingMetrics(dashboard, '# TYPE grpc_server_handled_total counter\napp_info 1\n'),
    [],
  );
});

test('every dashboard queries only catalog metrics', async () => {
  // docs/metrics.md is the catalog (dashboards-live.test.ts holds it to what the roles expose);
  // a histogram is queried by its series. prom-client's defaults are listed there as a group,
  // so they are taken from prom-client itself.
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  const catalog = new Set<string>();
  for (const metric of await defaults.getMetricsAsJSON()) {
    const series = String(metric.type) === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
    for (const suffix of series) catalog.add(`${metric.name}${suffix}`);
  }
  for (const [, name = '', type] of readFileSync('docs/metrics.md', 'utf8').matchAll(
    /^\| `(\w+)` +\| (\w+) /gm,
  )) {
    const series = type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
    for (const suffix of series) catalog.add(`${name}${suffix}`);
  }
  // Prometheus's own per-target series (the "Target down" annotation).
  catalog.add('up');
  for (const { path, content } of renderDashboards()) {
    const unknown = queriedMetrics(JSON.parse(content)).filter((name) => !catalog.has(name));
    assert.deepEqual(unknown, [], relative(process.cwd(), path));
  }
});

test('every catalog metric is on a dashboard, but two left out on purpose', () => {
  // redis_connection_up exists only with Redis (dependency_up{dependency="redis"} is shown);
  // grpc_client_started_total adds nothing to grpc_client_handled_total on a panel.
  const leftOut = ['redis_connection_up', 'grpc_client_started_total'];
  const queried = new Set(
    renderDashboards().flatMap(({ content }) =>
      queriedMetrics(JSON.parse(content)).map((name) => name.replace(/_(bucket|sum|count)$/, '')),
    ),
  );
  const catalog = [
    ...readFileSync('docs/metrics.md', 'utf8').matchAll(/^\| `(\w+)` +\| \w+ /gm),
  ].map(([, name = '']) => name);
  const missing = catalog.filter((name) => !queried.has(name) && !leftOut.includes(name));
  assert.deepEqual(missing, [], 'cataloged, but on no dashboard: add a panel where an SRE looks');
});

/** The parts of a rendered dashboard the tests below look at. */
interface DashboardJson {
  uid: string;
  title: string;
  templating: { list: { name: string }[] };
  panels: {
    id: number;
    title: string;
    targets?: { refId: string; expr: string }[];
    fieldConfig?: {
      defaults: { mappings?: { options: Record<string, { text: string }> }[] };
      overrides: { matcher: { id: string; options: string }; properties: { id: string }[] }[];
    };
  }[];
}

function rendered(file: string): DashboardJson {
  const dashboard = renderDashboards().find(({ path }) => path.endsWith(file));
  assert.ok(dashboard, `${file} is not rendered by dashboards/render.ts`);
  return JSON.parse(dashboard.content) as DashboardJson;
}

test('dashboards have distinct uids and titles', () => {
  const dashboards = renderDashboards().map(({ content }) => JSON.parse(content) as DashboardJson);
  assert.equal(new Set(dashboards.map((d) => d.uid)).size, dashboards.length);
  assert.equal(new Set(dashboards.map((d) => d.title)).size, dashboards.length);
});

test('the dependencies dashboard filters by the same variables as the service overview', () => {
  const overview = rendered('service-overview.json').templating.list;
  const dependencies = rendered('dependencies.json').templating.list;
  // datasource, job, namespace, role and pod are identical, so a link between the dashboards
  // keeps the selection; each dashboard then adds its own (grpc_service, dependency).
  const shared = ['datasource', 'job', 'namespace', 'role', 'pod'];
  for (const name of shared) {
    const mine = dependencies.find((variable) => variable.name === name);
    assert.deepEqual(
      mine,
      overview.find((variable) => variable.name === name),
      `variable ${name}`,
    );
  }
  assert.deepEqual(
    dependencies.map((variable) => variable.name),
    [...shared, 'dependency'],
  );
});

test('the dependencies dashboard covers every resilience, pool and auth signal', () => {
  const metrics = queriedMetrics(rendered('dependencies.json'));
  for (const name of [
    'circuit_breaker_state',
    'circuit_breaker_transitions_total',
    'dependency_request_seconds_bucket',
    'dependency_request_seconds_count',
    'retries_total',
    'dependency_up',
    'db_pool_connections',
    'db_pool_acquire_seconds_bucket',
    'rate_limit_rejections_total',
    'rate_limit_fail_open_total',
    'auth_logins_total',
    'auth_token_refreshes_total',
    'auth_active_sessions',
  ]) {
    assert.ok(metrics.includes(name), `${name} is not on the dependencies dashboard`);
  }
  // Only exposed when Redis is configured: the live test (default embedded mode) would fail,
  // and dependency_up{dependency="redis"} carries the same signal everywhere.
  assert.ok(!metrics.includes('redis_connection_up'));
});

test('breaker and health panels show state names, and reuse_detected stands out', () => {
  const dashboard = rendered('dependencies.json');
  const texts = (expr: RegExp): string[][] =>
    dashboard.panels
      .filter((panel) => panel.targets?.some((t) => expr.test(t.expr)))
      .map((panel) =>
        (panel.fieldConfig?.defaults.mappings ?? []).flatMap((mapping) =>
          Object.values(mapping.options).map((option) => option.text),
        ),
      );
  const breakerPanels = texts(/circuit_breaker_state/);
  assert.ok(breakerPanels.length >= 2);
  for (const mapped of breakerPanels) assert.deepEqual(mapped, ['closed', 'half-open', 'open']);
  const upPanels = texts(/dependency_up/);
  assert.ok(upPanels.length >= 2);
  for (const mapped of upPanels) assert.deepEqual(mapped, ['down', 'up']);

  const refreshes = dashboard.panels.find(
    (panel) =>
      panel.targets?.some((t) =>
        /auth_token_refreshes_total\{[^}]*result="reuse_detected"/.test(t.expr),
      ) && panel.targets.length > 1,
  );
  assert.ok(refreshes, 'a refresh panel with reuse_detected as its own query');
  const reuse = refreshes.targets?.find((t) => t.expr.includes('result="reuse_detected"'));
  const override = refreshes.fieldConfig?.overrides.find(
    (o) => o.matcher.id === 'byFrameRefID' && o.matcher.options === reuse?.refId,
  );
  assert.ok(
    override?.properties.some((p) => p.id === 'color'),
    'reuse_detected has its own colour',
  );
});

test('the trading dashboard filters by the shared variables, then by shard', () => {
  const overview = rendered('service-overview.json').templating.list;
  const trading = rendered('trading.json').templating.list;
  const shared = ['datasource', 'job', 'namespace', 'role', 'pod'];
  for (const name of shared) {
    assert.deepEqual(
      trading.find((variable) => variable.name === name),
      overview.find((variable) => variable.name === name),
      `variable ${name}`,
    );
  }
  assert.deepEqual(
    trading.map((variable) => variable.name),
    [...shared, 'shard'],
  );
});

test('the trading dashboard covers the order path from PlaceOrder to the streams', () => {
  const metrics = queriedMetrics(rendered('trading.json'));
  for (const name of [
    'orders_total',
    'engine_command_seconds_bucket',
    'engine_batch_size_bucket',
    'engine_batch_step_seconds_bucket',
    'engine_batch_step_seconds_sum',
    'engine_batch_step_seconds_count',
    'engine_batch_size_sum',
    'engine_batch_size_count',
    'engine_batches_total',
    'engine_epoch',
    'trades_total',
    'outbox_pending',
    'outbox_lag_seconds',
    'outbox_published_total',
    'outbox_relay_failures_total',
    'open_order_quota_corrected_units_total',
    'order_entry_commands_total',
    'order_entry_command_seconds_bucket',
    'order_entry_sessions',
    'engine_repeats_deferred_total',
    'engine_commands_retried_total',
    'engine_commands_refused_total',
    'engine_commands_isolated_total',
  ]) {
    assert.ok(metrics.includes(name), `${name} is not on the trading dashboard`);
  }
});

test('the trading dashboard covers the api → engine call, leadership and the simulator', () => {
  const dashboard = rendered('trading.json');
  const metrics = queriedMetrics(dashboard);
  for (const name of [
    'grpc_client_handled_total',
    'grpc_client_handling_seconds_bucket',
    'circuit_breaker_state',
    'retries_total',
    'engine_leader',
    'simulator_orders_total',
    'simulator_running',
    'simulator_balance_topups_total',
  ]) {
    assert.ok(metrics.includes(name), `${name} is not on the trading dashboard`);
  }
  const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
  // Client metrics and breaker panels are about the engine, not every service the api calls.
  for (const expr of exprs.filter((e) => e.includes('grpc_client_')))
    assert.match(expr, /grpc_service="trading\.internal\.v1\.EngineService"/);
  for (const expr of exprs.filter((e) => /circuit_breaker_state|retries_total/.test(e)))
    assert.match(expr, /dependency="engine"/);
});

test('failed orders, batches, engine calls and simulator actions stand out on the trading dashboard', () => {
  const dashboard = rendered('trading.json');
  const highlighted = (selector: RegExp): void => {
    const panel = dashboard.panels.find(
      (p) => p.targets?.some((t) => selector.test(t.expr)) && p.targets.length > 1,
    );
    assert.ok(panel, `a panel with ${String(selector)} as its own query`);
    const refId = panel.targets?.find((t) => selector.test(t.expr))?.refId;
    const override = panel.fieldConfig?.overrides.find(
      (o) => o.matcher.id === 'byFrameRefID' && o.matcher.options === refId,
    );
    assert.ok(
      override?.properties.some((p) => p.id === 'color'),
      `${String(selector)} has its own colour`,
    );
  };
  highlighted(/orders_total\{[^}]*result="failed"\}/);
  highlighted(/engine_batches_total\{[^}]*result=~"failed\|fenced"\}/);
  highlighted(/grpc_client_handled_total\{[^}]*grpc_code!~"OK\|/);
  highlighted(/simulator_orders_total\{[^}]*result=~"unavailable\|failed"\}/);
});

test("engine calls fail on every code but OK and the engine's answers", () => {
  const failed = rendered('trading.json')
    .panels.flatMap((panel) => panel.targets ?? [])
    .map((t) => /grpc_client_handled_total\{[^}]*grpc_code!~"([^"]*)"/.exec(t.expr)?.[1])
    .filter((codes) => codes !== undefined);
  assert.ok(failed.length > 0);
  // The codes GrpcOrderEngine passes on as domain errors; anything else is a failed call.
  const answers = 'OK|InvalidArgument|FailedPrecondition|NotFound|ResourceExhausted|AlreadyExists';
  for (const codes of failed) assert.equal(codes, answers);
});

test('the trading dashboard shows a shard without a leader by name', () => {
  const dashboard = rendered('trading.json');
  const leader = dashboard.panels.find((panel) =>
    panel.targets?.some((t) => t.expr.startsWith('max by (shard) (engine_epoch{')),
  );
  const texts = (leader?.fieldConfig?.defaults.mappings ?? []).flatMap((mapping) =>
    Object.values(mapping.options).map((option) => option.text),
  );
  assert.deepEqual(texts, ['no leader']);
});

test('the trading dashboard names leaders and standbys, and breaker states', () => {
  const dashboard = rendered('trading.json');
  const texts = (expr: RegExp): string[] => {
    const panel = dashboard.panels.find((p) => p.targets?.some((t) => expr.test(t.expr)));
    return (panel?.fieldConfig?.defaults.mappings ?? []).flatMap((mapping) =>
      Object.values(mapping.options).map((option) => option.text),
    );
  };
  assert.deepEqual(texts(/max by \(shard, pod\) \(engine_leader\{/), ['standby', 'leader']);
  assert.deepEqual(texts(/circuit_breaker_state\{[^}]*dependency="engine"/), [
    'closed',
    'half-open',
    'open',
  ]);
  assert.deepEqual(texts(/simulator_running\{/), ['stopped', 'running']);
});

test('panels added to the trading dashboard keep the ids of the panels that were there', () => {
  // Bookmarked viewPanel links: ids 1-23 are the panels of the first version, by title.
  const ids = new Map(rendered('trading.json').panels.map((p) => [p.title, p.id]));
  assert.equal(ids.get('Overview'), 1);
  assert.equal(ids.get('Engine'), 13);
  assert.equal(ids.get('Leader epoch by shard and pod'), 18);
  assert.equal(ids.get('Relay failed passes/s'), 23);
});

/** Panels of a rendered dashboard with what every panel must say about itself. */
interface DescribedPanel {
  id: number;
  type: string;
  title?: string;
  description?: string;
  fieldConfig?: { defaults: { unit?: string } };
}

test('every panel of the stream dashboards has a title, a description and a unit', () => {
  for (const file of ['connection-quality.json', 'sessions.json']) {
    const panels = rendered(file).panels as unknown as DescribedPanel[];
    assert.ok(panels.length > 10, file);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      const where = `${file} panel ${String(panel.id)}`;
      assert.ok(panel.title?.trim(), `${where}: title`);
      assert.ok(
        (panel.description ?? '').length > 20,
        `${where} (${panel.title ?? ''}): description`,
      );
      assert.ok(panel.fieldConfig?.defaults.unit, `${where} (${panel.title ?? ''}): unit`);
    }
  }
});

test('the stream dashboards filter by the shared variables', () => {
  const overview = rendered('service-overview.json').templating.list;
  const shared = ['datasource', 'job', 'namespace', 'role', 'pod'];
  for (const [file, own] of [
    ['connection-quality.json', ['transport']],
    ['sessions.json', []],
  ] as const) {
    const list = rendered(file).templating.list;
    for (const name of shared) {
      assert.deepEqual(
        list.find((variable) => variable.name === name),
        overview.find((variable) => variable.name === name),
        `${file}: variable ${name}`,
      );
    }
    assert.deepEqual(
      list.map((variable) => variable.name),
      [...shared, ...own],
    );
  }
});

test('the connection quality dashboard covers classes, heartbeats and back-pressure', () => {
  const metrics = queriedMetrics(rendered('connection-quality.json'));
  for (const name of [
    'stream_connections',
    'stream_connection_rtt_seconds_bucket',
    'stream_connection_jitter_seconds_bucket',
    'stream_heartbeats_missed_total',
    'stream_quality_changes_total',
    'stream_conflated_messages_total',
    'stream_slow_consumer_disconnects_total',
    'stream_send_queue_bytes',
  ]) {
    assert.ok(metrics.includes(name), `${name} is not on the connection quality dashboard`);
  }
  const exprs = rendered('connection-quality.json')
    .panels.flatMap((panel) => panel.targets ?? [])
    .map((t) => t.expr);
  assert.ok(exprs.some((e) => e.includes('sum by (transport) (stream_connections{')));
  assert.ok(exprs.some((e) => e.includes('sum by (quality) (stream_connections{')));
});

test('the sessions dashboard covers migrations, resumes, replays, drains and reconnects', () => {
  const dashboard = rendered('sessions.json');
  const metrics = queriedMetrics(dashboard);
  for (const name of [
    'session_migrations_total',
    'stream_resume_total',
    'stream_replay_messages_bucket',
    'stream_drain_seconds_bucket',
    'stream_reconnects_total',
  ]) {
    assert.ok(metrics.includes(name), `${name} is not on the sessions dashboard`);
  }
  const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
  assert.ok(exprs.some((e) => e.includes('sum by (result) (rate(session_migrations_total{')));
  assert.ok(exprs.some((e) => e.includes('sum by (result) (rate(stream_resume_total{')));
  assert.ok(exprs.some((e) => e.includes('sum by (reason) (rate(stream_reconnects_total{')));
});

test('a reconnect storm is visible at a glance, and pod starts and stops are annotated', () => {
  const json = JSON.parse(
    renderDashboards().find(({ path }) => path.endsWith('sessions.json'))?.content ?? '{}',
  ) as DashboardJson & { annotations: { list: { name: string; expr: string }[] } };
  const storm = json.panels.find((panel) => panel.title === 'Reconnect storm') as
    (DashboardJson['panels'][number] & { type: string; gridPos: { y: number } }) | undefined;
  assert.equal(storm?.type, 'stat');
  assert.equal(storm.gridPos.y, 1, 'first, under the Overview row');
  // Current rate over the usual one: a ratio, so the same thresholds fit every deployment.
  assert.match(storm.targets?.[0]?.expr ?? '', /rate\(stream_resume_total\{[^}]*\}\[5m\]\)\) \/ /);
  const annotations = json.annotations.list.map((a) => a.name);
  assert.deepEqual(annotations, ['Pod started', 'Pod draining', 'Target down']);
});
