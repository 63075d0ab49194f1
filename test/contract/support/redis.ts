import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createRedisConnection } from '../../../src/adapters/redis/client.js';
import type { RedisConnection } from '../../../src/adapters/redis/client.js';
import type { DependencyPolicy } from '../../../src/adapters/resilience/dependency-policy.js';
import { silentLogger } from '../../unit/adapters/support/observability.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Nothing listens here: stands in for a Redis that is down. */
export const DEAD_REDIS_URL = 'redis://127.0.0.1:1';

export interface RedisHandle {
  readonly connection: RedisConnection;
  readonly policy: DependencyPolicy;
  readonly registry: Registry;
}

/**
 * Redis for one test file: a key prefix of its own (so files run in parallel, and with other
 * engineers' suites), connections that are all closed, and every key under the prefix deleted
 * at the end.
 */
export class RedisTestContext {
  readonly prefix = `test:${randomUUID()}:`;
  readonly #handles: RedisHandle[] = [];

  /** A connection with its own registry and redis policy, ready to use. */
  async connect(
    options: { url?: string; registry?: Registry; waitReady?: boolean } = {},
  ): Promise<RedisHandle> {
    const registry = options.registry ?? new Registry();
    const logger = silentLogger();
    const connection = createRedisConnection({
      url: options.url ?? REDIS_URL,
      keyPrefix: this.prefix,
      commandTimeoutMs: 1000,
      connectTimeoutMs: 500,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      resilience: { timeoutMs: 1000, breaker: { threshold: 3, halfOpenAfterMs: 60_000 } },
      logger,
      registry,
    });
    const handle = { connection, policy: connection.policy, registry };
    this.#handles.push(handle);
    if (options.waitReady !== false) await connection.waitUntilReady(5000);
    return handle;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.#handles.map((h) => h.connection.close()));
    const admin = new Redis(REDIS_URL);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 500);
        if (keys.length > 0) await admin.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      await admin.quit();
    }
  }
}
