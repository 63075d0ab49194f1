import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { SessionRecord, SessionStore } from '../../domain/ports/session-store.port.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';

export interface RedisSessionStoreOptions {
  readonly redis: Redis;
  readonly policy: DependencyPolicy;
  /** Prepended to session ids (after the connection's own key prefix). Default 'session:'. */
  readonly keyPrefix?: string;
}

const stored = z.object({
  id: z.string(),
  userId: z.number().int().optional(),
  pod: z.string(),
  streams: z.array(z.string()),
  updatedAtMs: z.number(),
  tokenExpiresAtMs: z.number().optional(),
});

/** One JSON value per session with its TTL (SET EX): a record is replaced whole, never merged. */
export class RedisSessionStore implements SessionStore {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #prefix: string;

  constructor(options: RedisSessionStoreOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#prefix = options.keyPrefix ?? 'session:';
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const text = await this.#policy.execute(() => this.#redis.get(this.#prefix + id), {
      idempotent: true,
    });
    if (text === null) return undefined;
    const parsed = stored.safeParse(JSON.parse(text));
    // A record this release cannot read is as good as none: the client gets a new session.
    if (!parsed.success) return undefined;
    const { tokenExpiresAtMs, userId, ...rest } = parsed.data;
    const record = { ...rest, userId };
    return tokenExpiresAtMs === undefined ? record : { ...record, tokenExpiresAtMs };
  }

  async put(record: SessionRecord, ttlSeconds: number): Promise<void> {
    const text = JSON.stringify(record);
    await this.#policy.execute(
      () => this.#redis.set(this.#prefix + record.id, text, 'EX', ttlSeconds),
      {
        idempotent: true,
      },
    );
  }
}
