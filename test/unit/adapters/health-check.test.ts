import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { startHealthCheck } from '../../../src/adapters/metrics/health-check.js';
import { createUpSignal } from '../../../src/adapters/metrics/up-gauge.js';
import { captureLogger, metricValue } from './support/observability.js';

function setup(results: boolean[]) {
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  const up = createUpSignal({
    registry,
    name: 'dependency_up',
    help: 'up',
    labels: { dependency: 'postgres' },
  });
  let probes = 0;
  const health = startHealthCheck({
    dependency: 'postgres',
    intervalMs: 0,
    up,
    logger,
    probe: () => {
      probes++;
      return (results.shift() ?? true) ? Promise.resolve() : Promise.reject(new Error('down'));
    },
  });
  return { health, registry, lines, probes: () => probes };
}

describe('health check', () => {
  test('sets dependency_up from each probe', async () => {
    const { health, registry } = setup([false, true]);

    await health.check();
    const down = await metricValue(registry, 'dependency_up', { dependency: 'postgres' });
    await health.check();

    assert.equal(down, 0);
    assert.equal(await metricValue(registry, 'dependency_up', { dependency: 'postgres' }), 1);
  });

  test('logs the failure once per outage and the recovery once', async () => {
    const { health, lines } = setup([false, false, false, true, true]);

    for (let i = 0; i < 5; i++) await health.check();

    assert.deepEqual(
      lines.map((l) => l.msg),
      ['health check failed', 'health check recovered'],
    );
  });

  test('joins a probe already in flight instead of starting another', async () => {
    const { health, probes } = setup([true]);

    await Promise.all([health.check(), health.check(), health.check()]);

    assert.equal(probes(), 1);
  });
});
