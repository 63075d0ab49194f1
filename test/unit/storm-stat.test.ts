// The "Reconnect storm" stat of the Sessions & pod migrations dashboard reads 10 exactly where
// alert TradingPlatformStreamReconnectStorm's condition holds (for resumes, before its `for:`
// and its drain exclusion), a day of history or none: promtool evaluates the generated panel's
// query and the shipped rules over the same series.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

interface Scenario {
  /** Each scenario is a namespace of its own. */
  readonly namespace: string;
  /** promtool's expanding notation, one sample a minute, ending at the evaluation. */
  readonly resumes: string;
  /** Whether it is a storm: the alert's condition and the stat at 10 or more. */
  readonly storm: boolean;
}

/** All evaluated at 1d10m (minute 1450); the day-old ones jump at minute 1440. */
const SCENARIOS: readonly Scenario[] = [
  // A day at 0.1/s, then 10/s.
  { namespace: 'day-storm', resumes: '0+6x1439 8640+600x30', storm: true },
  { namespace: 'day-steady', resumes: '0+6x1470', storm: false },
  // A day at 0.002/s, under the floor: 0.025/s is 10 times that, but under the alert's
  // 0.03/s; 0.035/s is a storm.
  { namespace: 'day-low-under', resumes: '0+0.12x1439 172.8+1.5x30', storm: false },
  { namespace: 'day-low-over', resumes: '0+0.12x1439 172.8+2.1x30', storm: true },
  // 20 minutes old: 10 quiet minutes, then one a second. The history it has averages 0.
  { namespace: 'young-storm', resumes: '_x1430 0x10 60+60x9', storm: true },
  // 80 minutes old and steady: the history it has is the usual.
  { namespace: 'young-steady', resumes: '_x1370 0+6x80', storm: false },
  // 35 minutes old, one a minute: under the floor.
  { namespace: 'young-trickle', resumes: '_x1415 0+1x35', storm: false },
  // 8 minutes old: no history at all, only the floor.
  { namespace: 'new-storm', resumes: '_x1442 0+6x8', storm: true },
];

function stormStatExpr(): string {
  const dashboard = JSON.parse(readFileSync('dashboards/sessions.json', 'utf8')) as {
    panels: { title?: string; targets?: { expr?: string }[] }[];
  };
  const panel = dashboard.panels.find((p) => p.title === 'Reconnect storm');
  const expr = panel?.targets?.[0]?.expr;
  assert.ok(expr !== undefined, 'the Reconnect storm stat has a query');
  return expr;
}

test('the reconnect storm stat reads 10 or more exactly where the storm alert holds, with or without history', (t) => {
  if (spawnSync('promtool', ['--version']).error) {
    if (process.env.CI) assert.fail('promtool is required on CI: apt-get install prometheus');
    t.skip('promtool not installed: apt-get install prometheus');
    return;
  }
  const stat = stormStatExpr();
  const forNamespace = (namespace: string) =>
    stat.replaceAll('$namespace', namespace).replace(/\$\{?\w+\}?/g, '.*');
  const promqlTests = SCENARIOS.flatMap(({ namespace, storm }) => [
    {
      expr: `(${forNamespace(namespace)}) >= bool 10`,
      eval_time: '1d10m',
      exp_samples: [{ labels: '{}', value: storm ? 1 : 0 }],
    },
    {
      // Pending or firing: the condition holds (its `for:` aside).
      expr: `count(ALERTS{alertname="TradingPlatformStreamReconnectStorm", signal="resumes", namespace="${namespace}"}) or vector(0)`,
      eval_time: '1d10m',
      exp_samples: [{ labels: '{}', value: storm ? 1 : 0 }],
    },
  ]);
  const suite = {
    rule_files: [resolve('alerts/streams.rules.yml')],
    evaluation_interval: '1m',
    group_eval_order: ['trading-platform-streams.rules', 'trading-platform-streams.alerts'],
    tests: [
      {
        interval: '1m',
        input_series: SCENARIOS.map(({ namespace, resumes }) => ({
          series: `stream_resume_total{job="trading-platform", namespace="${namespace}", pod="stream-0", result="replayed"}`,
          values: resumes,
        })),
        promql_expr_test: promqlTests,
      },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), 'storm-stat-'));
  try {
    const file = join(dir, 'storm-stat.test.yml');
    // JSON is YAML.
    writeFileSync(file, JSON.stringify(suite, null, 2));
    const run = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
