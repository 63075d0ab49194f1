import type { Redis } from 'ioredis';
import type { StreamEntry, StreamLog, TailListener } from '../../domain/ports/stream-log.port.js';
import type { Logger } from '../../telemetry/index.js';
import type { DependencyPolicy } from '../resilience/dependency-policy.js';
import { redisScript, type ScriptArg } from '../redis/redis-script.js';
import { RedisStreamTail } from './stream-tail.redis.js';

export interface RedisStreamLogOptions {
  readonly redis: Redis;
  readonly policy: DependencyPolicy;
  /** Approximate entries kept per stream (XADD MAXLEN ~). Default 10,000. */
  readonly retention?: number;
  /** Prepended to stream names (after the connection's own key prefix). Default 'stream:'. */
  readonly keyPrefix?: string;
  /** How long the tail's XREAD blocks. Default 1,000 ms. */
  readonly tailBlockMs?: number;
  /** The epoch a log that has none yet takes: now, in ms. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

const PAYLOAD_FIELD = 'm';

/**
 * Appends entries in order, one XADD each: KEYS are the entries' streams, ARGV the retention
 * then each entry's seq and payload. Redis rejects an explicit id not above the stream's top
 * ("equal or smaller than the target stream top item"): that entry is already there, and is
 * skipped; any other error stops the script and fails the call. Returns how many were added.
 */
const APPEND_LUA = `
local added = 0
for i = 1, #KEYS do
  local reply = redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], ARGV[2 * i] .. '-0',
    '${PAYLOAD_FIELD}', ARGV[2 * i + 1])
  if type(reply) == 'table' and reply.err then
    if not string.find(reply.err, 'equal or smaller', 1, true) then
      return redis.error_reply(reply.err)
    end
  else
    added = added + 1
  end
end
return added`;

const appendScript = redisScript(APPEND_LUA);

/**
 * Entries per script call. A script holds Redis for its whole run, so a relay catching up on a
 * backlog of thousands of entries leaves gaps for other clients in between.
 */
const ENTRIES_PER_CALL = 256;

/**
 * Redis Streams with the seq as the entry id (`<seq>-0`), so publishing an entry twice is
 * rejected by Redis itself and the relay can always re-publish after a crash.
 */
export class RedisStreamLog implements StreamLog {
  readonly #redis: Redis;
  readonly #policy: DependencyPolicy;
  readonly #retention: number;
  readonly #prefix: string;
  readonly #tail: RedisStreamTail;
  readonly #now: () => number;

  constructor(options: RedisStreamLogOptions) {
    this.#redis = options.redis;
    this.#policy = options.policy;
    this.#retention = options.retention ?? 10_000;
    this.#prefix = options.keyPrefix ?? 'stream:';
    this.#now = options.now ?? Date.now;
    this.#tail = new RedisStreamTail({
      redis: options.redis,
      keyPrefix: this.#prefix,
      payloadField: PAYLOAD_FIELD,
      lastSeq: (stream) => this.lastSeq(stream),
      ...(options.tailBlockMs === undefined ? {} : { blockMs: options.tailBlockMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }

  /**
   * One script call per few hundred entries rather than one XADD command each: the client's
   * per-command work (objects, timers, reply parsing) was a tenth of the server's main thread
   * under load.
   */
  async append(entries: readonly StreamEntry[]): Promise<number> {
    let added = 0;
    for (let i = 0; i < entries.length; i += ENTRIES_PER_CALL) {
      const chunk = entries.slice(i, i + ENTRIES_PER_CALL);
      const keys = chunk.map((entry) => this.#prefix + entry.stream);
      const args: ScriptArg[] = [this.#retention];
      for (const entry of chunk) args.push(entry.seq, entry.payload);
      // Idempotent by construction (explicit ids), so the policy may retry it.
      const reply = await this.#policy.execute(() => appendScript(this.#redis, keys, args), {
        idempotent: true,
      });
      if (typeof reply !== 'number')
        throw new TypeError(`unexpected append reply ${String(reply)}`);
      added += reply;
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

  tail(stream: string, listener: TailListener): Promise<() => void> {
    return this.#tail.tail(stream, listener);
  }

  /**
   * Kept under its own key beside the streams: whoever first finds none sets it. A wiped Redis
   * loses the key with the history, so the next reader starts a new epoch.
   */
  async epoch(): Promise<number> {
    const key = `${this.#prefix}epoch`;
    const value = await this.#policy.execute(
      async () => {
        const current = await this.#redis.get(key);
        if (current !== null) return current;
        await this.#redis.set(key, String(this.#now()), 'NX');
        return this.#redis.get(key);
      },
      { idempotent: true },
    );
    return Number(value);
  }

  /** Stops the tail's reader and closes its connection. */
  close(): Promise<void> {
    return this.#tail.close();
  }
}
