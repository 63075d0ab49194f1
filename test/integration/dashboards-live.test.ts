import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { missingMetrics, queriedMetrics } from '../../dashboards/queried-metrics.js';
import { startTestApp, type TestApp } from '../support/app.js';

let app: TestApp;

before(async () => {
  app = await startTestApp();
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

test('there is at least one dashboard to check', () => {
  assert.ok(dashboards.length > 0);
});

for (const { name, json } of dashboards) {
  test(`every metric ${name} queries is exposed by a running server on /metrics`, async () => {
    assert.ok(queriedMetrics(json).length > 10, 'the dashboard queries metrics');
    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    assert.deepEqual(missingMetrics(json, text), []);
  });
}
