import type { Redis } from 'ioredis';
import type {
  ConsumeOptions,
  RateLimitDecision,
  RateLimiter,
} from '../../domain/ports/rate-limiter.port.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';
import { integers, redisScript } from '../redis/redis-script.js';
import { gcraParams } from './gcra.js';
import { GCRA_LUA } from './gcra.lua.js';

export interface RedisRateLimiterOptions {
  readonly redis: Redis;
  /** The redis policy (timeout + breaker). Consuming is not idempotent: it is never retried. */
  readonly policy: DependencyPolicy;
  /** Namespace inside the client's keyPrefix. Default 'rl:'. */
  readonly keyPrefix?: string;
}

const gcraScript = redisScript(GCRA_LUA);

/** GCRA in one Lua call per request, on Redis's clock (see gcra.lua.ts). */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #prefix: string;

  constructor(options: RedisRateLimiterOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#prefix = options.keyPrefix ?? 'rl:';
  }

  async consume(key: string, options: ConsumeOptions): Promise<RateLimitDecision> {
    const p = gcraParams(options);
    const reply = await this.#policy.execute(() =>
      gcraScript(this.#redis, [this.#prefix + key], [p.intervalUs, p.burst, p.cost]),
    );
    const [allowed, remaining, retryAfterMs, resetAfterMs] = integers(reply, 4) as [
      number,
      number,
      number,
      number,
    ];
    return { allowed: allowed === 1, remaining, retryAfterMs, resetAfterMs };
  }
}
