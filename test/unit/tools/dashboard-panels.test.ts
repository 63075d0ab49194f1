import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import {
  chaosDashboardQueries,
  dashboardQueries,
  seriesMoved,
  withWindow,
} from '../../../src/tools/chaos/dashboard-panels.js';

const window = { startS: 1_000, endS: 1_100, stepS: 2, scrapeIntervalS: 1 };

/** A series sampled every step over the whole window, with these values in turn. */
const line = (...values: string[]) => ({
  metric: {},
  values: Array.from(
    { length: 51 },
    (_, i) => [1_000 + 2 * i, values[i % values.length] ?? ''] as const,
  ),
});

test('every panel and annotation of the chaos dashboards is read, with variables at "All"', async () => {
  const panels = await chaosDashboardQueries();
  const sessions = JSON.parse(await readFile('dashboards/sessions.json', 'utf8')) as {
    panels: { type: string }[];
  };
  const withQueries = sessions.panels.filter((p) => p.type !== 'row').length;
  assert.equal(
    panels.filter((p) => p.dashboard === 'Sessions & pod migrations' && p.kind === 'panel').length,
    withQueries,
  );
  const migrations = panels.find((p) => p.title === 'Sessions reopened/s by result');
  assert.deepEqual(migrations?.exprs, [
    'sum by (result) (rate(session_migrations_total{job=~"trading-platform.*", namespace=~".*", pod=~".*"}[$__rate_interval]))',
  ]);
  assert.ok(panels.some((p) => p.kind === 'annotation' && p.title === 'Target down'));
  assert.ok(panels.some((p) => p.dashboard === 'Connection quality'));
  // No dashboard variable is left for Prometheus to choke on; Grafana's interval ones remain.
  for (const panel of panels) {
    for (const expr of panel.exprs) assert.doesNotMatch(expr.replace(/\$__\w+/g, ''), /\$/);
  }
});

test('a dashboard without annotations or with a collapsed row still yields its panels', () => {
  const panels = dashboardQueries({
    title: 'Trading platform / X',
    templating: { list: [{ name: 'pod', type: 'query', includeAll: true }] },
    annotations: {},
    panels: [
      {
        type: 'row',
        title: 'R',
        panels: [{ title: 'Inner', targets: [{ expr: 'up{pod=~"$pod"}' }] }],
      },
    ],
  });
  assert.deepEqual(panels, [
    { dashboard: 'X', title: 'Inner', kind: 'panel', exprs: ['up{pod=~".*"}'] },
  ]);
});

test("Grafana's interval variables take the window's values", () => {
  assert.equal(
    withWindow('rate(x[$__rate_interval]) + increase(x[$__range]) + y[$__interval]', window),
    'rate(x[4s]) + increase(x[100s]) + y[2s]',
  );
  // A step longer than four scrapes sets the rate interval: step + one scrape.
  assert.equal(withWindow('[$__rate_interval]', { ...window, stepS: 10 }), '[11s]');
});

test('a changing value, or a line that starts or ends within the window, moved', () => {
  assert.equal(seriesMoved([line('1', '2')], window), true);
  assert.equal(seriesMoved([line('NaN', '0.5')], window), true);
  const ends = { metric: {}, values: line('3').values.slice(0, 20) };
  assert.equal(seriesMoved([ends], window), true);
  const starts = { metric: {}, values: line('3').values.slice(10) };
  assert.equal(seriesMoved([starts], window), true);
});

test('a constant line, an all-NaN line and no data did not move', () => {
  assert.equal(seriesMoved([line('2')], window), false);
  assert.equal(seriesMoved([line('NaN')], window), false);
  assert.equal(seriesMoved([], window), false);
  assert.equal(seriesMoved([{ metric: {}, values: [] }], window), false);
});
