import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { gcra, gcraParams } from '../../../src/adapters/rate-limit/gcra.js';

describe('gcra', () => {
  test('matches a continuously refilled token bucket for any sequence of requests', () => {
    // Reference model: credit in microseconds, refilled 1:1 with time up to burst·interval;
    // a request needs cost·interval of credit. GCRA must agree with it on every decision.
    const step = fc.record({
      elapsedUs: fc.integer({ min: 0, max: 3_000_000 }),
      cost: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 5, max: 20 }),
        fc.array(step, { maxLength: 60 }),
        (ratePerSec, burst, steps) => {
          const p = gcraParams({ ratePerSec, burst });
          const capacity = p.intervalUs * burst;
          let credit = capacity;
          let now = 1_700_000_000_000_000;
          let tat: number | undefined;
          for (const { elapsedUs, cost } of steps) {
            now += elapsedUs;
            credit = Math.min(capacity, credit + elapsedUs);
            const expected = credit >= cost * p.intervalUs;
            if (expected) credit -= cost * p.intervalUs;

            const outcome = gcra(tat, now, { ...p, cost });
            if (outcome.store !== undefined) tat = outcome.store.tatUs;

            assert.equal(outcome.decision.allowed, expected);
            assert.equal(outcome.decision.remaining, Math.floor(credit / p.intervalUs));
          }
        },
      ),
    );
  });

  test('tells a rejected request exactly how long to wait', () => {
    const p = gcraParams({ ratePerSec: 10, burst: 2, cost: 1 });
    const now = 1_000_000_000;
    const first = gcra(undefined, now, p);
    const second = gcra(first.store?.tatUs, now, p);

    const third = gcra(second.store?.tatUs, now, p);
    const later = gcra(second.store?.tatUs, now + third.decision.retryAfterMs * 1000, p);

    assert.deepEqual(third.decision, {
      allowed: false,
      remaining: 0,
      retryAfterMs: 100,
      resetAfterMs: 200,
    });
    assert.equal(later.decision.allowed, true);
  });

  test('a peek (cost 0) reports without spending or storing', () => {
    const outcome = gcra(undefined, 5_000_000, gcraParams({ ratePerSec: 1, burst: 3, cost: 0 }));

    assert.deepEqual(outcome.decision, {
      allowed: true,
      remaining: 3,
      retryAfterMs: 0,
      resetAfterMs: 0,
    });
    assert.equal(outcome.store, undefined);
  });

  test('rejects limits that can never be met', () => {
    assert.throws(() => gcraParams({ ratePerSec: 0, burst: 1 }), RangeError);
    assert.throws(() => gcraParams({ ratePerSec: 1, burst: 0 }), RangeError);
    assert.throws(() => gcraParams({ ratePerSec: 1, burst: 2, cost: 3 }), RangeError);
    assert.throws(() => gcraParams({ ratePerSec: 1, burst: 2, cost: 1.5 }), RangeError);
  });
});
