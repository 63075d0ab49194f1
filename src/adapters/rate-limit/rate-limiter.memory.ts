import type {
  ConsumeOptions,
  RateLimitDecision,
  RateLimiter,
} from '../../domain/ports/rate-limiter.port.js';
import { gcra, gcraParams } from './gcra.js';

export interface MemoryRateLimiterOptions {
  /** Milliseconds since the epoch. Default Date.now. */
  readonly now?: () => number;
}

/** Forgotten keys are swept every this many writes, so an idle key costs nothing for long. */
const SWEEP_EVERY = 1024;

/**
 * The in-process twin of RedisRateLimiter (same gcra(), same integer microseconds): for the
 * embedded mode, where one process is the whole platform, and for deterministic tests.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly #now: () => number;
  readonly #tats = new Map<string, number>();
  #writes = 0;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  consume(key: string, options: ConsumeOptions): Promise<RateLimitDecision> {
    // Executor, not Promise.resolve: a RangeError becomes a rejection, as from the Redis twin.
    return new Promise((resolve) => {
      resolve(this.#consume(key, options));
    });
  }

  #consume(key: string, options: ConsumeOptions): RateLimitDecision {
    const params = gcraParams(options);
    const nowUs = Math.round(this.#now() * 1000);
    const outcome = gcra(this.#tats.get(key), nowUs, params);
    if (outcome.store !== undefined) {
      this.#tats.set(key, outcome.store.tatUs);
      if (++this.#writes % SWEEP_EVERY === 0) this.#sweep(nowUs);
    }
    return outcome.decision;
  }

  /** A TAT in the past means a full bucket, exactly like a missing key. */
  #sweep(nowUs: number): void {
    for (const [key, tat] of this.#tats) if (tat <= nowUs) this.#tats.delete(key);
  }
}
