import pg from 'pg';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { startHealthCheck } from '../metrics/health-check.js';
import { createUpSignal } from '../metrics/up-gauge.js';
import { createDependencyPolicy } from '../resilience/dependency-policy.js';
import type {
  BreakerOptions,
  DependencyPolicy,
  ExecuteOptions,
  RetryOptions,
} from '../resilience/dependency-policy.js';
import { isPostgresFailure } from './pg-errors.js';
import { trackPool } from './pool-metrics.js';
import { assertIdentifier } from './sql-identifier.js';

export interface PostgresResilienceOptions {
  /** Per attempt, acquiring the connection included. */
  readonly timeoutMs: number;
  readonly retry?: RetryOptions;
  readonly breaker: BreakerOptions;
}

export interface PostgresOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly connectionString: string;
  /** Pool size. Default 10. */
  readonly max?: number;
  /** Close connections idle for this long. Default 30 s. */
  readonly idleTimeoutMillis?: number;
  /** Give up opening a connection after this long. Default 5 s. */
  readonly connectionTimeoutMillis?: number;
  /** Server-side `statement_timeout`. Default: the server's. */
  readonly statementTimeoutMs?: number;
  /** Server-side `idle_in_transaction_session_timeout`, so a stuck holder cannot pin locks. */
  readonly idleInTransactionTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  readonly applicationName?: string;
  /** `search_path` of every connection (tests give each run its own schema). */
  readonly schema?: string;
  /**
   * `SELECT 1` now and every this many ms, feeding `dependency_up{dependency="postgres"}`.
   * 0 disables the periodic probe (checkHealth() still works). Default 5 s.
   */
  readonly healthCheckIntervalMs?: number;
  readonly resilience?: PostgresResilienceOptions;
}

/** What a transaction body may do: query, never release or end the connection. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>>;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions extends ExecuteOptions {
  readonly isolation?: IsolationLevel;
}

export interface DedicatedConnectionOptions {
  /**
   * Send each query as soon as it is issued, without waiting for the answers to the ones
   * before it (the driver's pipeline mode): a caller that has several statements to send
   * saves a round trip per statement after the first.
   */
  readonly pipeline?: boolean;
}

export interface Postgres {
  readonly pool: Pool;
  /**
   * A connection of its own, outside the pool, for one long-lived user that keeps session
   * state (prepared statements) and must not queue behind the pool's callers: an engine
   * shard's batch connections. Not counted in `db_pool_connections`. End it with `end()`.
   */
  connectDedicated(options?: DedicatedConnectionOptions): Promise<pg.Client>;
  readonly policy: DependencyPolicy;
  /** One statement under the postgres policy; retried only when `{ idempotent: true }`. */
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
    options?: ExecuteOptions,
  ): Promise<QueryResult<R>>;
  /**
   * BEGIN … COMMIT on one connection, ROLLBACK when `fn` throws. With `{ idempotent: true }` the
   * whole transaction is replayed on a dependency failure, so `fn` must be safe to run again.
   */
  withTransaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs the health probe now; true when the database answered. */
  checkHealth(): Promise<boolean>;
  close(): Promise<void>;
}

export const DEFAULT_POSTGRES_RESILIENCE: PostgresResilienceOptions = {
  timeoutMs: 5_000,
  retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 500 },
  breaker: { threshold: 5, halfOpenAfterMs: 5_000 },
};

export function createPostgres(options: PostgresOptions): Postgres {
  const { logger, registry } = options;
  const log = logger.child({ dependency: 'postgres' });
  const connection: pg.ClientConfig = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    ...(options.statementTimeoutMs === undefined
      ? {}
      : { statement_timeout: options.statementTimeoutMs }),
    ...(options.idleInTransactionTimeoutMs === undefined
      ? {}
      : { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }),
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
    ...(options.schema === undefined
      ? {}
      : { options: `-c search_path=${assertIdentifier(options.schema)}` }),
  };
  const pool = new pg.Pool({
    ...connection,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
  });

  // An idle connection that dies (server restart, pg_terminate_backend) is reported here and
  // dropped by the pool; without a listener it would be an uncaught 'error' and kill the process.
  pool.on('error', (error) => {
    log.warn({ err: error }, 'postgres idle connection failed; the pool discards it');
  });
  // A checked-out connection can fail between two queries; the next query reports it to its caller.
  const onClientError = (error: Error): void => {
    log.debug({ err: error }, 'postgres connection error');
  };
  pool.on('connect', (client) => {
    client.on('error', onClientError);
  });

  const metrics = trackPool(registry, pool);
  const policy = createDependencyPolicy({
    dependency: 'postgres',
    ...(options.resilience ?? DEFAULT_POSTGRES_RESILIENCE),
    isFailure: isPostgresFailure,
    logger,
    registry,
  });

  /**
   * Acquires a connection for one attempt. When the attempt times out the connection is
   * destroyed rather than returned: a statement may still be running on it, and destroying it
   * makes the server roll the transaction back.
   */
  async function withClient<T>(
    signal: AbortSignal,
    use: (client: PoolClient, discard: () => void) => Promise<T>,
  ): Promise<T> {
    const stopTimer = metrics.acquireSeconds.startTimer();
    const client = await pool.connect().finally(stopTimer);
    let released = false;
    const release = (destroy: boolean): void => {
      if (released) return;
      released = true;
      client.release(destroy);
    };
    const discard = (): void => {
      release(true);
    };
    if (signal.aborted) {
      release(false);
      throw new Error('postgres call timed out while waiting for a connection');
    }
    signal.addEventListener('abort', discard, { once: true });
    try {
      return await use(client, discard);
    } catch (error) {
      release(isPostgresFailure(error));
      throw error;
    } finally {
      signal.removeEventListener('abort', discard);
      release(false);
    }
  }

  const up = createUpSignal({
    registry,
    name: 'dependency_up',
    help: 'Whether a dependency answers its health check (1) or not (0).',
    labels: { dependency: 'postgres' },
  });
  const health = startHealthCheck({
    dependency: 'postgres',
    intervalMs: options.healthCheckIntervalMs ?? 5_000,
    up,
    logger: log,
    // Through the policy: while the circuit is open the probe is rejected (down), and once the
    // half-open delay has passed the probe is the trial call that closes it again.
    probe: () =>
      policy.execute(async (signal) => {
        await withClient(signal, (client) => client.query('SELECT 1'));
      }),
  });
  if ((options.healthCheckIntervalMs ?? 5_000) > 0) void health.check();

  return {
    pool,
    async connectDedicated(dedicated = {}) {
      const client = new pg.Client({ ...connection, pipeline: dedicated.pipeline ?? false });
      client.on('error', onClientError);
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
      return client;
    },
    policy,
    query: (text, values, executeOptions) =>
      policy.execute(
        (signal) => withClient(signal, (client) => client.query(text, values)),
        executeOptions,
      ),
    withTransaction: (fn, transactionOptions = {}) =>
      policy.execute(
        (signal) =>
          withClient(signal, async (client, discard) => {
            const isolation = transactionOptions.isolation;
            await client.query(
              isolation === undefined
                ? 'BEGIN'
                : `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`,
            );
            try {
              const result = await fn({ query: (text, values) => client.query(text, values) });
              await client.query('COMMIT');
              return result;
            } catch (error) {
              // A connection that cannot even roll back is not trusted with the next caller.
              await client.query('ROLLBACK').catch(discard);
              throw error;
            }
          }),
        transactionOptions,
      ),
    checkHealth: () => health.check(),
    async close() {
      health.stop();
      up.dispose();
      metrics.untrack();
      policy.dispose();
      await pool.end();
    },
  };
}
