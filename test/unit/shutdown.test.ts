import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { Shutdown } from '../../src/lifecycle/shutdown.js';
import { createMetricsRegistry } from '../../src/telemetry/index.js';
import { LogCapture, sample } from '../support/app.js';

function setup(timeoutMs = 1_000) {
  const logs = new LogCapture();
  const registry = createMetricsRegistry({ version: 't', role: 'all' });
  const readiness = new Readiness();
  const shutdown = new Shutdown({
    logger: logs.logger(),
    registry,
    readiness,
    drainDelayMs: 0,
    timeoutMs,
  });
  return { logs, registry, readiness, shutdown };
}

test('readiness fails before any step runs, and steps run in order', async () => {
  const { readiness, shutdown } = setup();
  await readiness.evaluate();
  assert.equal(readiness.isReady, true);
  const seen: string[] = [];
  shutdown.add({
    name: 'a',
    run: () => Promise.resolve(void seen.push(`a ready=${readiness.isReady}`)),
  });
  shutdown.add({ name: 'b', run: () => Promise.resolve(void seen.push('b')) });

  assert.equal(await shutdown.run('test'), 0);
  assert.deepEqual(seen, ['a ready=false', 'b']);
  assert.equal((await readiness.evaluate()).draining, true);
});

test('a step past the deadline is forced and the exit code says so', async () => {
  const { shutdown, logs } = setup(50);
  let forced = false;
  shutdown.add({
    name: 'stuck',
    run: () => sleep(10_000, undefined, { ref: false }),
    force: () => (forced = true),
  });

  assert.equal(await shutdown.run('test'), 1);
  assert.equal(forced, true);
  assert.ok(logs.find('shutdown deadline passed; forcing', { step: 'stuck' }));
});

test('a failing step is logged and the next steps still run', async () => {
  const { shutdown, logs } = setup();
  let flushed = false;
  shutdown.add({ name: 'pool', run: () => Promise.reject(new Error('boom')) });
  shutdown.add({ name: 'telemetry', run: () => Promise.resolve(void (flushed = true)) });

  assert.equal(await shutdown.run('test'), 1);
  assert.equal(flushed, true);
  assert.ok(logs.find('shutdown step failed', { step: 'pool' }));
});

test('running twice shuts down once', async () => {
  const { shutdown } = setup();
  let runs = 0;
  shutdown.add({ name: 'x', run: () => Promise.resolve(void (runs += 1)) });
  await Promise.all([shutdown.run('one'), shutdown.run('two')]);
  assert.equal(runs, 1);
});

test('shutdown_phase moves from running to exited', async () => {
  const { shutdown, registry } = setup();
  assert.equal(sample(await registry.metrics(), 'shutdown_phase', {}), 0);
  await shutdown.run('test');
  assert.equal(sample(await registry.metrics(), 'shutdown_phase', {}), 3);
});

test('a readiness check that throws makes the process not ready, with the reason', async () => {
  const readiness = new Readiness();
  readiness.register('postgres', () => {
    throw new Error('connection refused');
  });
  const report = await readiness.evaluate();
  assert.equal(report.ready, false);
  assert.deepEqual(report.checks.postgres, {
    ok: false,
    detail: 'connection refused',
    critical: true,
  });
});

test('steps after a forced one still run, so pools close and the process can exit', async () => {
  const { shutdown } = setup(50);
  let closed = false;
  shutdown.add({ name: 'stuck', run: () => sleep(10_000, undefined, { ref: false }) });
  shutdown.add({ name: 'pool', run: () => Promise.resolve(void (closed = true)) });

  assert.equal(await shutdown.run('test'), 1);
  assert.equal(closed, true);
});

test('a failing non-critical check is reported but leaves the process ready', async () => {
  const readiness = new Readiness();
  readiness.register('redis', () => ({ ok: false, detail: 'circuit open' }), { critical: false });
  const report = await readiness.evaluate();
  assert.equal(report.ready, true);
  assert.equal(report.checks.redis?.ok, false);
});
