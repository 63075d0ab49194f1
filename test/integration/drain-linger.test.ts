// A stream process's drain duration (`stream_drain_seconds`) is observed after the last
// regular scrape: with STREAM_DRAIN_LINGER_MS the process keeps answering /metrics, unready,
// until a scrape has read it, or for at most that long.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sample, startTestApp, type TestApp } from '../support/app.js';

async function logged(app: TestApp, msg: string): Promise<void> {
  while (app.logs.find(msg) === undefined) await sleep(10);
}

test('a drained process answers /metrics, unready, until a scrape has read its drain, then exits', async () => {
  // A bound long enough that only the scrape below can end the wait.
  const app = await startTestApp({ SHUTDOWN_TIMEOUT_MS: '60000', STREAM_DRAIN_LINGER_MS: '40000' });
  const stopping = app.stop();
  await logged(app, 'stream drain finished');

  const ready = await fetch(`${app.httpUrl}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(
    ((await ready.json()) as { failing: { name: string }[] }).failing[0]?.name,
    'draining',
  );
  assert.equal(app.logs.find('last scrape awaited'), undefined, 'a probe is no scrape');

  const metrics = await (await fetch(`${app.httpUrl}/metrics`)).text();
  assert.equal(sample(metrics, 'stream_drain_seconds_count', {}), 1);
  assert.equal(await stopping, 0);
  assert.ok(app.logs.find('last scrape awaited', { outcome: 'scraped', max_ms: 40_000 }));
});

test('a drained process that nothing scrapes exits when the linger runs out', async () => {
  const app = await startTestApp({ STREAM_DRAIN_LINGER_MS: '200' });
  assert.equal(await app.stop(), 0);
  assert.ok(app.logs.find('last scrape awaited', { outcome: 'no scrape', max_ms: 200 }));
});

test('with no linger set, a drained process does not wait for a scrape', async () => {
  const app = await startTestApp();
  assert.equal(app.config.streams.drainLingerMs, 0);
  assert.equal(await app.stop(), 0);
  assert.ok(app.logs.find('stream drain finished'));
  assert.equal(app.logs.find('last scrape awaited'), undefined);
});
