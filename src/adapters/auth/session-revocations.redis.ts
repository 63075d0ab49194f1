import type { Redis } from 'ioredis';
import type {
  Revocation,
  RevocationBatch,
  SessionRevocations,
} from '../../domain/ports/session-revocations.port.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';

export interface RedisSessionRevocationsOptions {
  readonly redis: Redis;
  readonly policy: DependencyPolicy;
  /** How long an entry is kept: the access-token lifetime, after which it means nothing. */
  readonly retainMs: number;
  /** The stream's key (after the connection's own key prefix). Default 'revoked-sessions'. */
  readonly key?: string;
}

/**
 * A Redis Stream of revocations. Its entry ids come from the Redis server's clock, so the
 * cursor every pod polls from is one sequence whatever the pods' clocks say, and XADD trims
 * entries older than the retention (MINID) as it goes.
 */
export class RedisSessionRevocations implements SessionRevocations {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #retainMs: number;
  readonly #key: string;

  constructor(options: RedisSessionRevocationsOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#retainMs = options.retainMs;
    this.#key = options.key ?? 'revoked-sessions';
  }

  async revoke(revocation: Revocation): Promise<void> {
    const oldest = Math.max(0, Date.now() - this.#retainMs);
    await this.#policy.execute(
      () =>
        this.#redis.xadd(
          this.#key,
          'MINID',
          '~',
          String(oldest),
          '*',
          'sid',
          revocation.sessionId,
          'until',
          String(revocation.untilMs),
        ),
      // A repeat adds a second entry for the same session, which is harmless.
      { idempotent: true },
    );
  }

  async since(cursor: string, limit: number): Promise<RevocationBatch> {
    const entries = await this.#policy.execute(
      () => this.#redis.xrange(this.#key, cursor === '' ? '-' : `(${cursor}`, '+', 'COUNT', limit),
      { idempotent: true },
    );
    const revocations: Revocation[] = [];
    for (const [, fields] of entries) {
      const sid = fieldOf(fields, 'sid');
      const until = Number(fieldOf(fields, 'until'));
      if (sid !== undefined && Number.isFinite(until)) {
        revocations.push({ sessionId: sid, untilMs: until });
      }
    }
    return { revocations, cursor: entries.at(-1)?.[0] ?? cursor };
  }
}

function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
