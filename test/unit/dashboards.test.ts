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

test('the service overview queries only catalog metrics', () => {
  // Names from DESIGN.md "Metrics catalog" (histograms by their series) and prom-client
  // defaults; a dashboard query outside this list is a typo or an undocumented metric.
  const catalog = new Set([
    'app_info',
    'shutdown_phase',
    'process_unhandled_rejections_total',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_gc_duration_seconds_sum',
    'grpc_server_started_total',
    'grpc_server_handled_total',
    'grpc_server_handling_seconds_bucket',
    'grpc_server_msg_received_total',
    'grpc_server_msg_sent_total',
    'http_server_request_duration_seconds_bucket',
    'http_server_request_duration_seconds_count',
  ]);
  for (const { content } of renderDashboards()) {
    const unknown = queriedMetrics(JSON.parse(content)).filter((name) => !catalog.has(name));
    assert.deepEqual(unknown, []);
  }
});
