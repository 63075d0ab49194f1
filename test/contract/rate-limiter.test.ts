import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { DomainError } from '../../src/domain/errors.js';
import { GuardedRateLimiter } from '../../src/adapters/rate-limit/guarded-rate-limiter.js';
import { MemoryRateLimiter } from '../../src/adapters/rate-limit/rate-limiter.memory.js';
import { RedisRateLimiter } from '../../src/adapters/rate-limit/rate-limiter.redis.js';
import { captureLogger, metricValue, sleep } from '../unit/adapters/support/observability.js';
import { rateLimiterContract } from './rate-limiter.contract.js';
import { DEAD_REDIS_URL, RedisTestContext } from './support/redis.js';

rateLimiterContract('memory', {
  setup: () => Promise.resolve(),
  subject() {
    let now = 1_700_000_000_000;
    const limiter = new MemoryRateLimiter({ now: () => now });
    return Promise.resolve({
      limiter,
      advance: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    });
  },
  teardown: () => Promise.resolve(),
});

{
  const redis = new RedisTestContext();
  let subjects = 0;
  rateLimiterContract('redis', {
    setup: () => Promise.resolve(),
    async subject() {
      const { connection, policy } = await redis.connect();
      // A namespace per subject: tests share the file's prefix but never a key.
      const limiter = new RedisRateLimiter({
        redis: connection.client,
        policy,
        keyPrefix: `rl:${++subjects}:`,
      });
      return { limiter, advance: sleep };
    },
    teardown: () => redis.cleanup(),
  });
}

describe('RedisRateLimiter across pods', () => {
  const redis = new RedisTestContext();
  after(() => redis.cleanup());

  test('two independent connections share one limit instead of doubling it', async () => {
    const podA = await redis.connect();
    const podB = await redis.connect();
    const limiterA = new RedisRateLimiter({ redis: podA.connection.client, policy: podA.policy });
    const limiterB = new RedisRateLimiter({ redis: podB.connection.client, policy: podB.policy });
    const limit = { ratePerSec: 1, burst: 4 };

    const decisions = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? limiterA : limiterB).consume('u1', limit),
      ),
    );

    assert.equal(decisions.filter((d) => d.allowed).length, 4);
  });
});

describe('RedisRateLimiter when Redis is down', () => {
  const redis = new RedisTestContext();
  const limit = { ratePerSec: 1, burst: 2 };
  let down: Awaited<ReturnType<RedisTestContext['connect']>>;

  before(async () => {
    down = await redis.connect({ url: DEAD_REDIS_URL, waitReady: false });
  });
  after(() => redis.cleanup());

  test('fails open when configured to: allows and counts', async () => {
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    const guarded = new GuardedRateLimiter({
      limiter: new RedisRateLimiter({ redis: down.connection.client, policy: down.policy }),
      scope: 'user',
      failureMode: 'open',
      logger,
      registry,
    });

    const decision = await guarded.consume('u1', limit);

    assert.equal(decision.allowed, true);
    assert.equal(await metricValue(registry, 'rate_limit_fail_open_total', { scope: 'user' }), 1);
    assert.ok(lines.some((l) => l.msg === 'rate limiter unavailable; failing open'));
  });

  test('fails closed when configured to: refuses with unavailable naming redis', async () => {
    const guarded = new GuardedRateLimiter({
      limiter: new RedisRateLimiter({ redis: down.connection.client, policy: down.policy }),
      scope: 'login_ip',
      failureMode: 'closed',
      logger: captureLogger().logger,
      registry: new Registry(),
    });

    await assert.rejects(
      guarded.consume('10.0.0.1', limit),
      (error: unknown) =>
        error instanceof DomainError &&
        error.code === 'unavailable' &&
        error.dependency === 'redis',
    );
  });

  test('stops calling Redis once the breaker opens, and says when to retry', async () => {
    const limiter = new RedisRateLimiter({ redis: down.connection.client, policy: down.policy });
    for (let i = 0; i < 3; i++) await limiter.consume('u1', limit).catch(() => undefined);

    await assert.rejects(limiter.consume('u1', limit), (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.match(error.message, /^redis is unavailable \(circuit open\); retry in ~\d+s$/);
      assert.ok((error.retryAfterMs ?? 0) > 0);
      return true;
    });
    assert.equal(down.policy.state(), 'open');
    assert.equal(
      await metricValue(down.registry, 'circuit_breaker_state', { dependency: 'redis' }),
      2,
    );
  });
});
