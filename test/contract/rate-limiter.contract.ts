import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RateLimiter } from '../../src/domain/ports/rate-limiter.port.js';

export interface RateLimiterSubject {
  readonly limiter: RateLimiter;
  /** Lets `ms` of time pass for the limiter (a fake clock, or real sleep for Redis). */
  readonly advance: (ms: number) => Promise<void>;
}

export interface RateLimiterHarness {
  setup(): Promise<void>;
  /** A fresh limiter; keys must not collide with other subjects. */
  subject(): Promise<RateLimiterSubject>;
  teardown(): Promise<void>;
}

/**
 * The behaviour every RateLimiter adapter must share. Limits are chosen so that the real-time
 * (Redis) run cannot flip a decision: where time passes between calls, the rate is slow enough
 * (1/s) that a scheduling hiccup of a few ms changes nothing.
 */
export function rateLimiterContract(name: string, harness: RateLimiterHarness): void {
  describe(`RateLimiter contract: ${name}`, () => {
    before(() => harness.setup());
    after(() => harness.teardown());

    test('allows a burst, then rejects with the time until one unit is back', async () => {
      const { limiter } = await harness.subject();
      const limit = { ratePerSec: 1, burst: 3 };

      // Sent together so that (for Redis) they reach the server back to back: a slow test
      // machine cannot stretch the gaps between them and change the numbers.
      const [first, second, third, rejected] = await Promise.all([
        limiter.consume('k', limit),
        limiter.consume('k', limit),
        limiter.consume('k', limit),
        limiter.consume('k', limit),
      ]);
      const burst = [first, second, third];

      assert.deepEqual(
        burst.map((d) => [d.allowed, d.remaining, d.retryAfterMs]),
        [
          [true, 2, 0],
          [true, 1, 0],
          [true, 0, 0],
        ],
      );
      assert.equal(rejected.allowed, false);
      assert.equal(rejected.remaining, 0);
      assert.ok(
        rejected.retryAfterMs > 900 && rejected.retryAfterMs <= 1000,
        `${rejected.retryAfterMs}`,
      );
      assert.ok(
        rejected.resetAfterMs > 2900 && rejected.resetAfterMs <= 3000,
        `${rejected.resetAfterMs}`,
      );
    });

    test('refills at the configured rate once retryAfterMs has passed', async () => {
      const { limiter, advance } = await harness.subject();
      const limit = { ratePerSec: 10, burst: 2 };
      const [, , rejected] = await Promise.all([
        limiter.consume('k', limit),
        limiter.consume('k', limit),
        limiter.consume('k', limit),
      ]);

      await advance(rejected.retryAfterMs);
      const refilled = await limiter.consume('k', limit);

      assert.equal(rejected.allowed, false);
      assert.equal(refilled.allowed, true);
    });

    test('never refills beyond the burst, however long the key was idle', async () => {
      const { limiter, advance } = await harness.subject();
      const limit = { ratePerSec: 100, burst: 2 };
      await limiter.consume('k', limit);

      await advance(50);
      // Sent together so that (for Redis) no refill can happen between them.
      const decisions = await Promise.all([
        limiter.consume('k', limit),
        limiter.consume('k', limit),
        limiter.consume('k', limit),
      ]);

      assert.deepEqual(
        decisions.map((d) => d.allowed),
        [true, true, false],
      );
    });

    test('charges the cost of a request, and a rejected request costs nothing', async () => {
      const { limiter } = await harness.subject();
      const limit = { ratePerSec: 1, burst: 5 };

      const [first, tooExpensive, affordable] = await Promise.all([
        limiter.consume('k', { ...limit, cost: 3 }),
        limiter.consume('k', { ...limit, cost: 3 }),
        limiter.consume('k', { ...limit, cost: 2 }),
      ]);

      assert.deepEqual([first.allowed, first.remaining], [true, 2]);
      assert.deepEqual([tooExpensive.allowed, tooExpensive.remaining], [false, 2]);
      assert.ok(tooExpensive.retryAfterMs > 900 && tooExpensive.retryAfterMs <= 1000);
      assert.deepEqual([affordable.allowed, affordable.remaining], [true, 0]);
    });

    test('a cost of 0 peeks without spending', async () => {
      const { limiter } = await harness.subject();
      const limit = { ratePerSec: 1, burst: 2 };
      await limiter.consume('k', limit);

      const peek = await limiter.consume('k', { ...limit, cost: 0 });
      const again = await limiter.consume('k', { ...limit, cost: 0 });

      assert.deepEqual([peek.allowed, peek.remaining], [true, 1]);
      assert.deepEqual([again.allowed, again.remaining], [true, 1]);
    });

    test('keeps keys independent', async () => {
      const { limiter } = await harness.subject();
      const limit = { ratePerSec: 1, burst: 1 };
      await limiter.consume('alice', limit);

      const alice = await limiter.consume('alice', limit);
      const bob = await limiter.consume('bob', limit);

      assert.equal(alice.allowed, false);
      assert.equal(bob.allowed, true);
    });

    test('refuses a cost above the burst, which could never be allowed', async () => {
      const { limiter } = await harness.subject();

      await assert.rejects(limiter.consume('k', { ratePerSec: 1, burst: 2, cost: 3 }), RangeError);
    });

    test('decides atomically under concurrent requests', async () => {
      const { limiter } = await harness.subject();
      const limit = { ratePerSec: 1, burst: 5 };

      const decisions = await Promise.all(
        Array.from({ length: 20 }, () => limiter.consume('k', limit)),
      );

      assert.equal(decisions.filter((d) => d.allowed).length, 5);
    });
  });
}
