import type { PoolClient } from 'pg';
import { counter, gauge, histogram, type Logger, type Registry } from '../../telemetry/index.js';
import { sqlStateOf, type Postgres } from '../postgres/index.js';

export interface ShardLeadershipOptions {
  readonly shard: string;
  readonly postgres: Postgres;
  /** How often a standby tries the lock, and a leader renews its lease. */
  readonly pollIntervalMs: number;
  /**
   * How long the lock's session may stay silent before PostgreSQL ends it (its
   * `idle_session_timeout`), which frees the lock: a leader paused (SIGSTOP, a frozen VM, a
   * stalled event loop) loses the shard after this long. At least twice `pollIntervalMs`.
   */
  readonly leaseMs: number;
  /** Names this process in the lease row (the pod name). */
  readonly holder: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The lock is held: start serving the shard (bump the epoch, rebuild the books). */
  readonly onAcquired: () => Promise<void>;
  /** The lock's connection is gone: stop serving (the next leader fences this one anyway). */
  readonly onLost: () => Promise<void>;
}

/** SQLSTATE of a session PostgreSQL ended for its `idle_session_timeout`. */
const IDLE_SESSION_TIMEOUT = '57P05';

/**
 * One leader per engine shard, elected by a PostgreSQL session advisory lock held on a
 * connection of its own. Standbys try the lock every `pollIntervalMs`; when the leader dies its
 * session ends, the lock is free, and the first standby to try takes over. A leader whose lock
 * connection fails (or stops answering its heartbeat) stops serving at once and becomes a
 * standby. The lock is the fast path; correctness rests on the fencing epoch every batch
 * checks, so a paused old leader that still believes it leads cannot write.
 *
 * A paused leader's connection stays open (its kernel still answers TCP keepalives), so its
 * lock would be held for as long as it is paused. The lock's session therefore carries an
 * `idle_session_timeout` of `leaseMs`, renewed by the leader's heartbeat every poll: a silent
 * leader's session is ended by PostgreSQL itself and the lock is free. (Connections that run
 * transactions carry an `idle_in_transaction_session_timeout` for the same reason: a batch
 * paused mid-transaction would hold the fencing row that the next leader's epoch bump needs.)
 * The heartbeat also stamps the shard's row in `engine_leases`, from which the next leader
 * measures its takeover.
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
  #lostError: unknown;
  readonly #log: Logger;
  readonly #leader;
  readonly #takeover;
  readonly #lostTotal;

  constructor(private readonly options: ShardLeadershipOptions) {
    this.shard = options.shard;
    this.#log = options.logger.child({ component: 'engine-leadership', shard: options.shard });
    this.#leader = gauge(options.registry, {
      name: 'engine_leader',
      help: 'Whether this process leads the shard (1) or stands by (0).',
      labelNames: ['shard'] as const,
    });
    this.#leader.set({ shard: this.shard }, 0);
    this.#takeover = histogram(options.registry, {
      name: 'engine_takeover_seconds',
      help: "Time from the previous leader's last lease renewal to this process serving the shard (books rebuilt), per takeover.",
      labelNames: ['shard'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60],
    });
    this.#lostTotal = counter(options.registry, {
      name: 'engine_leadership_lost_total',
      help: 'Times this process stopped leading a shard without being asked to, by reason (lease: PostgreSQL ended its silent session; connection: the lock connection failed; start_failed: it could not start serving).',
      labelNames: ['shard', 'reason'] as const,
    });
    for (const reason of ['lease', 'connection', 'start_failed']) {
      this.#lostTotal.inc({ shard: this.shard, reason }, 0);
    }
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
    let previous: { holder: string; silent_s: number } | undefined;
    try {
      this.#client ??= await this.#connect();
      const { rows } = await this.#client.query<{ ok: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext(coalesce(current_schema(), '')), hashtext($1)) AS ok",
        [this.shard],
      );
      if (rows[0]?.ok !== true) return;
      previous = (
        await this.#client.query<{ holder: string; silent_s: number }>(
          `WITH previous AS (SELECT holder, renewed_at FROM engine_leases WHERE shard = $1),
           mine AS (
             INSERT INTO engine_leases (shard, holder, renewed_at)
             VALUES ($1, $2, clock_timestamp())
             ON CONFLICT (shard) DO UPDATE SET holder = $2, renewed_at = clock_timestamp()
           )
           SELECT holder, extract(epoch FROM clock_timestamp() - renewed_at)::float8 AS silent_s
           FROM previous`,
          [this.shard, this.options.holder],
        )
      ).rows[0];
    } catch (error) {
      this.#log.warn({ err: error }, 'engine leadership attempt failed; retrying');
      await this.#release();
      return;
    }
    const acquiredAt = performance.now();
    this.#leading = true;
    this.#leader.set({ shard: this.shard }, 1);
    this.#log.info('engine shard leadership acquired');
    // Rebuilding the books can outlast the lease: renew it meanwhile, or PostgreSQL would end
    // the lock's session while this process is still starting to serve.
    const renewing = setInterval(() => {
      this.#renew().catch(() => undefined); // a lost connection is found by the next check
    }, this.options.pollIntervalMs);
    try {
      await this.options.onAcquired();
    } catch (error) {
      // Could not start serving (PostgreSQL failing mid-recovery): let another process try.
      this.#log.error({ err: error }, 'engine shard could not start as leader; stepping down');
      await this.#stepDown('start_failed');
      return;
    } finally {
      clearInterval(renewing);
    }
    if (previous !== undefined) {
      const seconds = previous.silent_s + (performance.now() - acquiredAt) / 1000;
      this.#takeover.observe({ shard: this.shard }, seconds);
      this.#log.info(
        {
          previous_holder: previous.holder,
          takeover_ms: Math.round(seconds * 1000),
          lease_ms: this.options.leaseMs,
        },
        'engine shard takeover',
      );
    }
  }

  /**
   * Renews the lease on the lock connection: a failure means the lock is (or will be) gone,
   * whether PostgreSQL ended the session for its silence or the connection broke.
   */
  async #checkLock(): Promise<void> {
    let failure: unknown = this.#lostError;
    if (!this.#lost) {
      try {
        await this.#renew();
        return;
      } catch (error) {
        failure = error;
      }
    }
    const reason = [sqlStateOf(failure), sqlStateOf(this.#lostError)].includes(IDLE_SESSION_TIMEOUT)
      ? 'lease'
      : 'connection';
    this.#log.error(
      { reason, err: failure, lease_ms: this.options.leaseMs },
      'engine shard leadership lost; stopping the shard',
    );
    await this.#stepDown(reason);
  }

  async #renew(): Promise<void> {
    await this.#client?.query(
      'UPDATE engine_leases SET renewed_at = clock_timestamp() WHERE shard = $1',
      [this.shard],
    );
  }

  async #stepDown(reason: 'lease' | 'connection' | 'start_failed'): Promise<void> {
    this.#lostTotal.inc({ shard: this.shard, reason });
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
    this.#lostError = undefined;
    client.on('error', this.#onLost);
    client.on('end', this.#onLost);
    try {
      // The lease (see the class comment); the connection never goes back to the pool.
      await client.query(`SET idle_session_timeout = ${Math.round(this.options.leaseMs)}`);
    } catch (error) {
      client.release(true);
      throw error;
    }
    return client;
  }

  readonly #onLost = (error?: unknown) => {
    this.#lost = true;
    this.#lostError ??= error;
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
