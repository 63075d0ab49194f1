import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sample } from '../support/app.js';
import { healthClient, unary } from '../support/grpc.js';
import { spawnApp } from '../support/process.js';

test('a started process is live, ready, SERVING and exports its metrics', async () => {
  const app = await spawnApp({
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  try {
    const started = await app.waitForLog('app started');
    assert.deepEqual(
      [started.traces_sampler, started.traces_sampler_ratio],
      ['parentbased_traceidratio', 0.25],
    );
    assert.equal((await fetch(`${app.httpUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${app.httpUrl}/readyz`)).status, 200);

    const health = healthClient(app.grpcAddress);
    const { response } = await unary<{ status: string }>(health, 'check', { service: '' });
    health.close();
    assert.equal(response?.status, 'SERVING');

    const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
    assert.equal(sample(text, 'app_info', { role: 'all' }), 1);
    assert.ok(text.includes('process_resident_memory_bytes'));
    assert.equal(
      sample(text, 'grpc_server_handled_total', {
        grpc_service: 'grpc.health.v1.Health',
        grpc_method: 'Check',
        grpc_code: 'OK',
      }),
      1,
    );
  } finally {
    app.child.kill('SIGKILL');
    await app.exited;
  }
});

test('SIGTERM fails readiness while draining, then exits 0 within the deadline', async () => {
  const drainDelayMs = 1_500;
  const timeoutMs = 5_000;
  const app = await spawnApp({
    SHUTDOWN_DRAIN_DELAY_MS: String(drainDelayMs),
    SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
  });
  await app.waitForLog('app started');
  const health = healthClient(app.grpcAddress);

  const signalledAt = performance.now();
  app.child.kill('SIGTERM');
  await app.waitForLog('shutdown started');

  const readyz = await fetch(`${app.httpUrl}/readyz`);
  assert.equal(readyz.status, 503);
  const body = (await readyz.json()) as { failing: { name: string }[] };
  assert.equal(body.failing[0]?.name, 'draining');
  assert.equal((await fetch(`${app.httpUrl}/healthz`)).status, 200, 'still live while draining');
  const { response } = await unary<{ status: string }>(health, 'check', { service: '' });
  assert.equal(response?.status, 'NOT_SERVING');
  health.close();

  assert.equal(await app.exited, 0);
  const elapsedMs = performance.now() - signalledAt;
  assert.ok(elapsedMs >= drainDelayMs, `exited after ${elapsedMs} ms, before the drain delay`);
  assert.ok(elapsedMs < drainDelayMs + timeoutMs, `took ${elapsedMs} ms, past the deadline`);
  const finished = await app.waitForLog('shutdown finished');
  assert.equal(finished.exit_code, 0);
});

test('a second signal exits at once instead of waiting for the drain', async () => {
  const app = await spawnApp({ SHUTDOWN_DRAIN_DELAY_MS: '30000' });
  await app.waitForLog('app started');
  app.child.kill('SIGTERM');
  await app.waitForLog('shutdown started');
  // Within a second it would be the same signal delivered twice (test/e2e/npm-start.test.ts).
  await sleep(1_100);
  const signalledAt = performance.now();
  app.child.kill('SIGINT');
  assert.equal(await app.exited, 1);
  assert.ok(performance.now() - signalledAt < 5_000);
  await app.waitForLog('second signal: exiting now');
});

test('a bad setting stops start-up with exit code 78 and names the variable', async () => {
  const app = await spawnApp({ ROLE: 'worker', LOG_LEVEL: 'loud' });
  assert.equal(await app.exited, 78);
  await sleep(50);
  const stderr = app.stderr.join('\n');
  assert.match(stderr, /ROLE="worker": expected one of all, api, stream, engine/);
  assert.match(stderr, /LOG_LEVEL="loud": expected one of/);
});
