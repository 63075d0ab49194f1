import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { DomainError } from '../../../src/domain/errors.js';
import type { RateLimiter } from '../../../src/domain/ports/rate-limiter.port.js';
import { GuardedRateLimiter } from '../../../src/adapters/rate-limit/guarded-rate-limiter.js';
import type { RateLimitFailureMode } from '../../../src/adapters/rate-limit/guarded-rate-limiter.js';
import { MemoryRateLimiter } from '../../../src/adapters/rate-limit/rate-limiter.memory.js';
import { captureLogger, metricValue, silentLogger } from './support/observability.js';

const limit = { ratePerSec: 1, burst: 2 };

const unavailable: RateLimiter = {
  consume: () =>
    Promise.reject(
      new DomainError('unavailable', 'redis is unavailable (circuit open); retry in ~2s', {
        dependency: 'redis',
        retryAfterMs: 1500,
      }),
    ),
};

function guard(limiter: RateLimiter, failureMode: RateLimitFailureMode = 'open', scope = 'user') {
  const registry = new Registry();
  const { logger, lines } = captureLogger();
  return {
    guarded: new GuardedRateLimiter({ limiter, scope, failureMode, logger, registry }),
    registry,
    lines,
  };
}

describe('guarded rate limiter', () => {
  test('counts each rejection under its scope', async () => {
    const { guarded, registry } = guard(
      new MemoryRateLimiter({ now: () => 0 }),
      'open',
      'login_ip',
    );

    for (let i = 0; i < 5; i++) await guarded.consume('10.0.0.1', limit);

    assert.equal(
      await metricValue(registry, 'rate_limit_rejections_total', { scope: 'login_ip' }),
      3,
    );
  });

  test('keeps scopes apart even when they share a limiter and a key', async () => {
    const shared = new MemoryRateLimiter({ now: () => 0 });
    const registry = new Registry();
    const common = {
      limiter: shared,
      failureMode: 'open' as const,
      logger: silentLogger(),
      registry,
    };
    const byUser = new GuardedRateLimiter({ ...common, scope: 'login_user' });
    const byIp = new GuardedRateLimiter({ ...common, scope: 'login_ip' });

    await byUser.consume('alice', limit);
    await byUser.consume('alice', limit);
    const decision = await byIp.consume('alice', limit);

    assert.equal(decision.allowed, true);
  });

  test('enforce refuses with resource_exhausted and the delay to wait', async () => {
    const { guarded } = guard(new MemoryRateLimiter({ now: () => 0 }));
    await guarded.enforce('u1', limit);
    await guarded.enforce('u1', limit);

    await assert.rejects(guarded.enforce('u1', limit), (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 'resource_exhausted');
      assert.equal(error.retryAfterMs, 1000);
      assert.equal(
        error.message,
        'too many requests: at most 1 per second, 2 at once; retry in 1 s',
      );
      return true;
    });
  });

  test('a refusal quotes the limit in the period it is configured in', async () => {
    const { guarded } = guard(new MemoryRateLimiter({ now: () => 0 }));
    const login = new GuardedRateLimiter({
      limiter: new MemoryRateLimiter({ now: () => 0 }),
      scope: 'login_ip',
      failureMode: 'closed',
      logger: silentLogger(),
      registry: new Registry(),
      refusal: { what: 'login attempts from this address', per: 'minute' },
    });
    const fivePerMinute = { ratePerSec: 5 / 60, burst: 10 };
    for (let i = 0; i < 10; i++) await login.enforce('10.0.0.1', fivePerMinute);
    const fast = { ratePerSec: 50, burst: 4 };
    await guarded.enforce('u1', { ...fast, cost: 3 });

    await assert.rejects(login.enforce('10.0.0.1', fivePerMinute), {
      message:
        'too many login attempts from this address: at most 5 per minute, 10 at once; retry in 12 s',
    });
    await assert.rejects(guarded.enforce('u1', { ...fast, cost: 3 }), {
      message:
        'too many requests: at most 50 per second, 4 at once (this call counts as 3); retry in 40 ms',
    });
  });

  test('fails open: allows, counts and logs once while the store is unavailable', async () => {
    const { guarded, registry, lines } = guard(unavailable, 'open');

    const decisions = [
      await guarded.consume('u1', limit),
      await guarded.consume('u1', limit),
      await guarded.consume('u1', limit),
    ];

    assert.ok(decisions.every((d) => d.allowed));
    assert.equal(await metricValue(registry, 'rate_limit_fail_open_total', { scope: 'user' }), 3);
    assert.equal(lines.filter((l) => l.msg === 'rate limiter unavailable; failing open').length, 1);
  });

  test('fails closed: refuses with unavailable naming redis and keeps the retry delay', async () => {
    const { guarded, registry } = guard(unavailable, 'closed');

    await assert.rejects(guarded.consume('u1', limit), (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 'unavailable');
      assert.equal(error.dependency, 'redis');
      assert.equal(error.retryAfterMs, 1500);
      assert.match(error.message, /^rate limiting is unavailable: redis is unavailable/);
      return true;
    });
    assert.equal(await metricValue(registry, 'rate_limit_fail_open_total', { scope: 'user' }), 0);
  });

  test('logs the recovery once the store answers again', async () => {
    let down = true;
    const memory = new MemoryRateLimiter({ now: () => 0 });
    const flaky: RateLimiter = {
      consume: (key, options) =>
        down ? unavailable.consume(key, options) : memory.consume(key, options),
    };
    const { guarded, lines } = guard(flaky, 'open');
    await guarded.consume('u1', limit);
    down = false;

    await guarded.consume('u1', limit);

    assert.equal(lines.filter((l) => l.msg === 'rate limiter recovered').length, 1);
  });

  test('lets programming errors through instead of failing open on them', async () => {
    const { guarded } = guard(new MemoryRateLimiter(), 'open');

    await assert.rejects(guarded.consume('u1', { ratePerSec: 1, burst: 1, cost: 2 }), RangeError);
  });
});
