import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { basename } from 'node:path';
import { missingMetrics, queriedMetrics } from '../../dashboards/queried-metrics.js';
import { renderDashboards } from '../../dashboards/render.js';
import { startTestApp, type TestApp } from '../support/app.js';

let app: TestApp;

before(async () => {
  // ROLE=all (the default, spelled out): the only role that runs the api, the engine shards and
  // the outbox relay in one process, so every trading metric is on its /metrics page.
  app = await startTestApp({ ROLE: 'all' });
});

after(async () => {
  await app.stop();
});

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

for (const { name, json } of dashboards) {
  test(`every metric ${name} queries is exposed by a running server on /metrics`, async () => {
    assert.ok(queriedMetrics(json).length > 10, 'the dashboard queries metrics');
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    assert.deepEqual(missingMetrics(json, text), []);
  });
}
