import type { Redis } from 'ioredis';
import type { StreamEntry, StreamLog } from '../../domain/ports/stream-log.port.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';

export interface RedisStreamLogOptions {
  readonly redis: Redis;
  readonly policy: DependencyPolicy;
  /** Approximate entries kept per stream (XADD MAXLEN ~). Default 10,000. */
  readonly retention?: number;
  /** Prepended to stream names (after the connection's own key prefix). Default 'stream:'. */
  readonly keyPrefix?: string;
}

/** Redis rejects an explicit id not above the stream's top: that entry is already there. */
const ALREADY_PRESENT = 'equal or smaller than the target stream top item';

const PAYLOAD_FIELD = 'm';

/**
 * Redis Streams with the seq as the entry id (`<seq>-0`), so publishing an entry twice is
 * rejected by Redis itself and the relay can always re-publish after a crash.
 */
export class RedisStreamLog implements StreamLog {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #retention: number;
  readonly #prefix: string;

  constructor(options: RedisStreamLogOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#retention = options.retention ?? 10_000;
    this.#prefix = options.keyPrefix ?? 'stream:';
  }

  async append(entries: readonly StreamEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    // Idempotent by construction (explicit ids), so the policy may retry it.
    const results = await this.#policy.execute(
      async () => {
        const pipeline = this.#redis.pipeline();
        for (const entry of entries) {
          pipeline.xadd(
            this.#prefix + entry.stream,
            'MAXLEN',
            '~',
            String(this.#retention),
            `${entry.seq}-0`,
            PAYLOAD_FIELD,
            entry.payload,
          );
        }
        return (await pipeline.exec()) ?? [];
      },
      { idempotent: true },
    );
    let added = 0;
    for (const [error] of results) {
      if (error === null) added += 1;
      else if (!error.message.includes(ALREADY_PRESENT)) throw error;
    }
    return added;
  }

  async read(stream: string, afterSeq: number, limit: number): Promise<StreamEntry[]> {
    const rows = await this.#policy.execute(
      () => this.#redis.xrange(this.#prefix + stream, `(${afterSeq}-0`, '+', 'COUNT', limit),
      { idempotent: true },
    );
    return rows.map(([id, fields]) => ({
      stream,
      seq: Number(id.slice(0, id.indexOf('-'))),
      payload: fields[fields.indexOf(PAYLOAD_FIELD) + 1] ?? '',
    }));
  }

  async lastSeq(stream: string): Promise<number> {
    const rows = await this.#policy.execute(
      () => this.#redis.xrevrange(this.#prefix + stream, '+', '-', 'COUNT', 1),
      { idempotent: true },
    );
    const id = rows[0]?.[0];
    return id === undefined ? 0 : Number(id.slice(0, id.indexOf('-')));
  }
}
