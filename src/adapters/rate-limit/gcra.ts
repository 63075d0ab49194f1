import type { ConsumeOptions, RateLimitDecision } from '../../domain/ports/rate-limiter.port.js';

/**
 * The Generic Cell Rate Algorithm, in integer microseconds so that the in-process twin and the
 * Lua script (gcra.lua.ts, which mirrors this function line by line) compute exactly the same
 * numbers. State per key is one number, the theoretical arrival time (TAT): the instant at which
 * the key would be back to a full burst.
 */
export interface GcraParams {
  /** Microseconds per unit: 1e6 / ratePerSec, rounded, at least 1. */
  readonly intervalUs: number;
  readonly burst: number;
  readonly cost: number;
}

export interface GcraOutcome {
  readonly decision: RateLimitDecision;
  /** The TAT to store (allowed and cost > 0), with how long to keep it (ms). */
  readonly store?: { readonly tatUs: number; readonly ttlMs: number };
}

/** Validates a limit and turns it into integer parameters. Throws RangeError when impossible. */
export function gcraParams(options: ConsumeOptions): GcraParams {
  const { ratePerSec, burst } = options;
  const cost = options.cost ?? 1;
  if (!Number.isFinite(ratePerSec) || ratePerSec <= 0 || ratePerSec > 1_000_000) {
    throw new RangeError(`ratePerSec must be in (0, 1e6], got ${ratePerSec}`);
  }
  if (!Number.isSafeInteger(burst) || burst < 1) {
    throw new RangeError(`burst must be an integer ≥ 1, got ${burst}`);
  }
  if (!Number.isSafeInteger(cost) || cost < 0 || cost > burst) {
    throw new RangeError(`cost must be an integer in [0, burst=${burst}], got ${cost}`);
  }
  return { intervalUs: Math.max(1, Math.round(1_000_000 / ratePerSec)), burst, cost };
}

const toMs = (us: number): number => Math.ceil(us / 1000);

export function gcra(storedTatUs: number | undefined, nowUs: number, p: GcraParams): GcraOutcome {
  const tolerance = p.intervalUs * p.burst;
  const tat = Math.max(storedTatUs ?? nowUs, nowUs);
  const newTat = tat + p.cost * p.intervalUs;
  const diff = newTat - nowUs;
  if (diff <= tolerance) {
    const decision = {
      allowed: true,
      remaining: Math.floor((tolerance - diff) / p.intervalUs),
      retryAfterMs: 0,
      resetAfterMs: toMs(diff),
    };
    return p.cost > 0
      ? { decision, store: { tatUs: newTat, ttlMs: Math.max(1, toMs(diff)) } }
      : { decision };
  }
  return {
    decision: {
      allowed: false,
      remaining: Math.max(0, Math.floor((tolerance - (tat - nowUs)) / p.intervalUs)),
      retryAfterMs: toMs(diff - tolerance),
      resetAfterMs: toMs(tat - nowUs),
    },
  };
}
