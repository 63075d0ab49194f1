import type { QuotaAcquisition, QuotaCounter } from '../../domain/ports/quota.port.js';
import { assertLimit } from './quota-limit.js';

export interface MemoryQuotaCounterOptions {
  /** Milliseconds since the epoch. Default Date.now. */
  readonly now?: () => number;
  /** Same meaning as RedisQuotaCounter's: forget a key idle this long (0 = never). */
  readonly idleTtlMs?: number;
}

interface Entry {
  count: number;
  expiresAt: number;
}

/** The in-process twin of RedisQuotaCounter. */
export class MemoryQuotaCounter implements QuotaCounter {
  readonly #now: () => number;
  readonly #idleTtlMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: MemoryQuotaCounterOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#idleTtlMs = options.idleTtlMs ?? 0;
  }

  acquire(key: string, limit: number): Promise<QuotaAcquisition> {
    // Executor: a RangeError becomes a rejection, as from the Redis twin.
    return new Promise((resolve) => {
      assertLimit(limit);
      const current = this.#count(key);
      if (current >= limit) {
        resolve({ acquired: false, current, remaining: 0 });
        return;
      }
      this.#store(key, current + 1);
      resolve({ acquired: true, current: current + 1, remaining: limit - current - 1 });
    });
  }

  release(key: string): Promise<number> {
    const next = Math.max(0, this.#count(key) - 1);
    if (next === 0) this.#entries.delete(key);
    else this.#store(key, next);
    return Promise.resolve(next);
  }

  current(key: string): Promise<number> {
    return Promise.resolve(this.#count(key));
  }

  set(key: string, units: number): Promise<number> {
    return new Promise((resolve) => {
      assertLimit(units, 'quota units');
      const before = this.#count(key);
      if (units === 0) this.#entries.delete(key);
      else this.#store(key, units);
      resolve(before);
    });
  }

  keys(prefix: string): Promise<string[]> {
    return Promise.resolve(
      [...this.#entries.keys()].filter((key) => key.startsWith(prefix) && this.#count(key) > 0),
    );
  }

  #count(key: string): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return 0;
    }
    return entry.count;
  }

  #store(key: string, count: number): void {
    const expiresAt = this.#idleTtlMs > 0 ? this.#now() + this.#idleTtlMs : Infinity;
    this.#entries.set(key, { count, expiresAt });
  }
}
