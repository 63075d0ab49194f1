import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { counter, gauge } from '../../src/telemetry/metrics.js';
import { createUpSignal } from '../../src/adapters/metrics/index.js';
import { metricValue } from './adapters/support/observability.js';

describe('metric registry helpers', () => {
  test('return the metric already registered under the same name', () => {
    const registry = new Registry();
    const config = { name: 'things_total', help: 'things', labelNames: ['kind'] as const };

    const first = counter(registry, config);
    const second = counter(registry, config);

    assert.equal(second, first);
  });

  test('register on the given registry only', () => {
    const a = new Registry();
    const b = new Registry();

    gauge(a, { name: 'only_on_a', help: 'a' });

    assert.ok(a.getSingleMetric('only_on_a'));
    assert.equal(b.getSingleMetric('only_on_a'), undefined);
  });

  test('refuse a second registration with another type or other labels', () => {
    const registry = new Registry();
    counter(registry, { name: 'x_total', help: 'x', labelNames: ['a'] });

    assert.throws(() => gauge(registry, { name: 'x_total', help: 'x' }), /another type/);
    assert.throws(
      () => counter(registry, { name: 'x_total', help: 'x', labelNames: ['b'] }),
      /labels \[a\], not \[b\]/,
    );
  });
});

describe('up signal', () => {
  const up = (registry: Registry) =>
    createUpSignal({
      registry,
      name: 'dependency_up',
      help: 'up',
      labels: { dependency: 'redis' },
    });

  test('is 1 only while every source of the series is up', async () => {
    const registry = new Registry();
    const a = up(registry);
    const b = up(registry);
    a.set(true);
    b.set(false);
    const mixed = await metricValue(registry, 'dependency_up', { dependency: 'redis' });
    b.set(true);

    assert.equal(mixed, 0);
    assert.equal(await metricValue(registry, 'dependency_up', { dependency: 'redis' }), 1);
  });

  test('stops counting a disposed source, and drops the series with the last one', async () => {
    const registry = new Registry();
    const a = up(registry);
    const b = up(registry);
    a.set(true);
    b.dispose();
    const afterOne = await metricValue(registry, 'dependency_up', { dependency: 'redis' });
    a.dispose();

    assert.equal(afterOne, 1);
    assert.equal(await metricValue(registry, 'dependency_up', { dependency: 'redis' }), undefined);
  });
});
