import type { PoolClient } from 'pg';
import { gauge, type Logger, type Registry } from '../../telemetry/index.js';
import type { Postgres } from '../postgres/index.js';

export interface ShardLeadershipOptions {
  readonly shard: string;
  readonly postgres: Postgres;
  /** How often a standby tries the lock, and a leader checks its lock connection. */
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The lock is held: start serving the shard (bump the epoch, rebuild the books). */
  readonly onAcquired: () => Promise<void>;
  /** The lock's connection is gone: stop serving (the next leader fences this one anyway). */
  readonly onLost: () => Promise<void>;
}

/**
 * One leader per engine shard, elected by a PostgreSQL session advisory lock held on a
 * connection of its own. Standbys try the lock every `pollIntervalMs`; when the leader dies its
 * session ends, the lock is free, and the first standby to try takes over. A leader whose lock
 * connection fails (or stops answering its heartbeat) stops serving at once and becomes a
 * standby. The lock is the fast path; correctness rests on the fencing epoch every batch
 * checks, so a paused old leader that still believes it leads cannot write.
 *
 * The lock key is two int4s: the schema (tests and tenants share a database) and the shard.
 */
export class ShardLeadership {
  readonly shard: string;
  #running = false;
  #leading = false;
  #client: PoolClient | undefined;
  #lost = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly #log: Logger;
  readonly #leader;

  constructor(private readonly options: ShardLeadershipOptions) {
    this.shard = options.shard;
    this.#log = options.logger.child({ component: 'engine-leadership', shard: options.shard });
    this.#leader = gauge(options.registry, {
      name: 'engine_leader',
      help: 'Whether this process leads the shard (1) or stands by (0).',
      labelNames: ['shard'] as const,
    });
    this.#leader.set({ shard: this.shard }, 0);
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Starts campaigning; resolves after the first attempt (leading or standing by). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#attempt();
    if (!this.#leading) this.#log.info('engine shard standing by: another process leads it');
    this.#loop = this.#run();
  }

  /** Stops campaigning and gives the lock up (the caller has already stopped the shard). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    await this.#release();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollIntervalMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      if (this.#stopping()) break;
      if (this.#leading) await this.#checkLock();
      else await this.#attempt();
    }
  }

  /** A method, so the compiler does not assume `#running` is unchanged across the wait. */
  #stopping(): boolean {
    return !this.#running;
  }

  async #attempt(): Promise<void> {
    try {
      this.#client ??= await this.#connect();
      const { rows } = await this.#client.query<{ ok: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext(coalesce(current_schema(), '')), hashtext($1)) AS ok",
        [this.shard],
      );
      if (rows[0]?.ok !== true) return;
    } catch (error) {
      this.#log.warn({ err: error }, 'engine leadership attempt failed; retrying');
      await this.#release();
      return;
    }
    this.#leading = true;
    this.#leader.set({ shard: this.shard }, 1);
    this.#log.info('engine shard leadership acquired');
    try {
      await this.options.onAcquired();
    } catch (error) {
      // Could not start serving (PostgreSQL failing mid-recovery): let another process try.
      this.#log.error({ err: error }, 'engine shard could not start as leader; stepping down');
      await this.#stepDown();
    }
  }

  /** Heartbeat on the lock connection: a broken one means the lock is (or will be) gone. */
  async #checkLock(): Promise<void> {
    if (!this.#lost) {
      try {
        await this.#client?.query('SELECT 1');
        return;
      } catch (error) {
        this.#log.warn({ err: error }, 'engine leadership connection failed');
      }
    }
    this.#log.error('engine shard leadership lost; stopping the shard');
    await this.#stepDown();
  }

  async #stepDown(): Promise<void> {
    this.#leading = false;
    this.#leader.set({ shard: this.shard }, 0);
    try {
      await this.options.onLost();
    } finally {
      await this.#release();
    }
  }

  async #connect(): Promise<PoolClient> {
    const client = await this.options.postgres.pool.connect();
    this.#lost = false;
    client.on('error', this.#onLost);
    client.on('end', this.#onLost);
    return client;
  }

  readonly #onLost = () => {
    this.#lost = true;
    this.#wake?.();
  };

  /** Unlocks and closes the lock connection (it is never reused: the pool makes a new one). */
  async #release(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    client.off('error', this.#onLost);
    client.off('end', this.#onLost);
    if (!this.#lost) {
      try {
        await client.query('SELECT pg_advisory_unlock_all()');
      } catch {
        // Closing the session below releases its locks anyway.
      }
    }
    client.release(true);
  }
}
