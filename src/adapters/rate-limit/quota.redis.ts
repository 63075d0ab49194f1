import type { Redis } from 'ioredis';
import type { QuotaAcquisition, QuotaCounter } from '../../domain/ports/quota.port.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';
import { integers, redisScript } from '../redis/redis-script.js';
import { assertLimit } from './quota-limit.js';
import { QUOTA_ACQUIRE_LUA, QUOTA_RELEASE_LUA, QUOTA_SET_LUA } from './quota.lua.js';

export interface RedisQuotaCounterOptions {
  readonly redis: Redis;
  /** The redis policy. acquire/release are not idempotent; only current() is retried. */
  readonly policy: DependencyPolicy;
  /** Namespace inside the client's keyPrefix. Default 'quota:'. */
  readonly keyPrefix?: string;
  /**
   * Forget a key this long after its last acquire/release (0 = never): bounds how long units
   * leaked by a crashed process stay counted. Must exceed the longest legitimate hold.
   */
  readonly idleTtlMs?: number;
}

const acquireScript = redisScript(QUOTA_ACQUIRE_LUA);
const releaseScript = redisScript(QUOTA_RELEASE_LUA);
const setScript = redisScript(QUOTA_SET_LUA);

/** SCAN MATCH treats `*?[]\` as glob syntax; a key prefix must match them literally. */
const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export class RedisQuotaCounter implements QuotaCounter {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #prefix: string;
  readonly #idleTtlMs: number;

  constructor(options: RedisQuotaCounterOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#prefix = options.keyPrefix ?? 'quota:';
    this.#idleTtlMs = options.idleTtlMs ?? 0;
  }

  async acquire(key: string, limit: number): Promise<QuotaAcquisition> {
    assertLimit(limit);
    const reply = await this.#policy.execute(() =>
      acquireScript(this.#redis, [this.#prefix + key], [limit, this.#idleTtlMs]),
    );
    const [acquired, current] = integers(reply, 2) as [number, number];
    return { acquired: acquired === 1, current, remaining: Math.max(0, limit - current) };
  }

  async release(key: string): Promise<number> {
    const reply = await this.#policy.execute(() =>
      releaseScript(this.#redis, [this.#prefix + key], [this.#idleTtlMs]),
    );
    if (typeof reply !== 'number') throw new TypeError(`unexpected script reply ${String(reply)}`);
    return reply;
  }

  async current(key: string): Promise<number> {
    const value = await this.#policy.execute(() => this.#redis.get(this.#prefix + key), {
      idempotent: true,
    });
    return value === null ? 0 : Number(value);
  }

  async set(key: string, units: number): Promise<number> {
    assertLimit(units, 'quota units');
    // Idempotent: a retry writes the same count (only the reported "before" may differ).
    const reply = await this.#policy.execute(
      () => setScript(this.#redis, [this.#prefix + key], [units, this.#idleTtlMs]),
      { idempotent: true },
    );
    if (typeof reply !== 'number') throw new TypeError(`unexpected script reply ${String(reply)}`);
    return reply;
  }

  async keys(prefix: string): Promise<string[]> {
    // ioredis prefixes the keys of commands, not SCAN's pattern nor the keys it returns.
    const outer = (this.#redis.options.keyPrefix ?? '') + this.#prefix;
    const pattern = `${globLiteral(outer + prefix)}*`;
    const found = new Set<string>(); // SCAN may return a key more than once
    let cursor = '0';
    do {
      const [next, keys] = await this.#policy.execute(
        () => this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000),
        { idempotent: true },
      );
      for (const key of keys) found.add(key.slice(outer.length));
      cursor = next;
    } while (cursor !== '0');
    return [...found];
  }
}
