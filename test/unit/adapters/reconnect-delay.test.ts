import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reconnectDelayMs } from '../../../src/adapters/redis/reconnect-delay.js';

describe('redis reconnect delay', () => {
  const options = { initialDelayMs: 50, maxDelayMs: 2000 };
  const ceiling = () => 1;

  test('doubles the ceiling with every attempt', () => {
    const delays = [1, 2, 3, 4].map((attempt) => reconnectDelayMs(attempt, options, ceiling));

    assert.deepEqual(delays, [50, 100, 200, 400]);
  });

  test('never exceeds maxDelayMs, however long the outage', () => {
    assert.equal(reconnectDelayMs(10, options, ceiling), 2000);
    assert.equal(reconnectDelayMs(10_000, options, ceiling), 2000);
  });

  test('spreads delays over [0, ceiling] with full jitter', () => {
    assert.equal(
      reconnectDelayMs(3, options, () => 0),
      0,
    );
    assert.equal(
      reconnectDelayMs(3, options, () => 0.5),
      100,
    );
  });
});
