import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { QuotaCounter } from '../domain/ports/quota.port.js';
import type { RateLimiter } from '../domain/ports/rate-limiter.port.js';
import type { SessionStore } from '../domain/ports/session-store.port.js';
import type { SessionRevocations } from '../domain/ports/session-revocations.port.js';
import { MemorySessionRevocations } from '../adapters/auth/session-revocations.memory.js';
import { RedisSessionRevocations } from '../adapters/auth/session-revocations.redis.js';
import type { StreamLog } from '../domain/ports/stream-log.port.js';
import { MemorySessionStore } from '../adapters/streams/session-store.memory.js';
import { RedisSessionStore } from '../adapters/streams/session-store.redis.js';
import { MemoryStreamLog } from '../adapters/stream-log/stream-log.memory.js';
import { RedisStreamLog } from '../adapters/stream-log/stream-log.redis.js';
import type { Readiness } from '../lifecycle/readiness.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import {
  createPostgres,
  DEFAULT_POSTGRES_RESILIENCE,
  runMigrations,
  startEmbeddedPostgres,
  type Postgres,
} from '../adapters/postgres/index.js';
import {
  MemoryQuotaCounter,
  MemoryRateLimiter,
  RedisQuotaCounter,
  RedisRateLimiter,
} from '../adapters/rate-limit/index.js';
import {
  assertNotCluster,
  createRedisConnection,
  type RedisConnection,
} from '../adapters/redis/index.js';
import type { Logger, Registry } from '../telemetry/index.js';

export interface DataLayer {
  readonly postgres: Postgres;
  /** True when PostgreSQL is embedded PGlite (one session behind every connection). */
  readonly embedded: boolean;
  readonly rateLimiter: RateLimiter;
  readonly quotas: QuotaCounter;
  /** Sequenced stream history (Redis Streams, or in process). */
  readonly streamLog: StreamLog;
  /** Stream sessions across pods (Redis, or in process). */
  readonly sessions: SessionStore;
  /** Revoked auth sessions every pod honours (Redis, or in process). */
  readonly revocations: SessionRevocations;
  /** Closing order: Redis, then the pool, then the embedded server. */
  readonly closeSteps: readonly ShutdownStep[];
}

interface Deps {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
}

/**
 * Opens PostgreSQL (real, or embedded PGlite when DATABASE_URL is unset), migrates it, and
 * builds the Redis-backed ports (or their in-process twins when REDIS_URL is unset).
 */
export async function openDataLayer(config: Config, deps: Deps): Promise<DataLayer> {
  const { logger, registry, readiness } = deps;
  const closeSteps: ShutdownStep[] = [];

  const embedded =
    config.databaseUrl === undefined
      ? await startEmbeddedPostgres({
          logger,
          dataDir: join(config.dataDir, 'pglite'),
          maxConnections: config.postgres.poolMax,
        })
      : undefined;
  const postgres = createPostgres({
    logger,
    registry,
    connectionString: embedded?.connectionString ?? config.databaseUrl ?? '',
    max: config.postgres.poolMax,
    ...(config.postgres.schema === undefined ? {} : { schema: config.postgres.schema }),
    connectionTimeoutMillis: config.postgres.connectTimeoutMs,
    idleTimeoutMillis: config.postgres.idleTimeoutMs,
    statementTimeoutMs: config.postgres.statementTimeoutMs,
    // A paused engine must not pin, mid-transaction, the locks its successor needs: after the
    // engine lease PostgreSQL ends such a session (see ShardLeadership).
    ...(embedded === undefined ? { idleInTransactionTimeoutMs: config.engine.leaderLeaseMs } : {}),
    applicationName: `trading-platform/${config.role}/${config.podName}`,
    resilience: { ...DEFAULT_POSTGRES_RESILIENCE, timeoutMs: config.postgres.queryTimeoutMs },
  });
  logger.info(
    {
      mode: embedded === undefined ? 'server' : 'embedded',
      data_dir: embedded === undefined ? undefined : config.dataDir,
    },
    embedded === undefined
      ? 'postgres: using DATABASE_URL'
      : 'postgres: using embedded PGlite (DATABASE_URL unset)',
  );
  const migrations = await runMigrations({
    pool: postgres.pool,
    logger,
    ...(config.postgres.schema === undefined ? {} : { schema: config.postgres.schema }),
  });
  logger.info(
    { applied: migrations.applied, already_applied: migrations.alreadyApplied },
    'migrations done',
  );
  // Reported, not gating: if PostgreSQL is down for every pod, pulling every pod out of the
  // load balancer turns fast UNAVAILABLE answers into connection errors.
  readiness.register('postgres', () => breakerCheck(postgres.policy.state()), { critical: false });

  let redis: RedisConnection | undefined;
  let rateLimiter: RateLimiter;
  let quotas: QuotaCounter;
  let streamLog: StreamLog;
  let sessions: SessionStore;
  let revocations: SessionRevocations;
  if (config.redisUrl === undefined) {
    logger.info('redis: using in-process twins (REDIS_URL unset); limits are per process');
    rateLimiter = new MemoryRateLimiter();
    quotas = new MemoryQuotaCounter();
    streamLog = new MemoryStreamLog();
    sessions = new MemorySessionStore();
    revocations = new MemorySessionRevocations();
  } else {
    redis = createRedisConnection({
      logger,
      registry,
      url: config.redisUrl,
      keyPrefix: config.redis.keyPrefix,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      connectionName: `trading-platform/${config.role}/${config.podName}`,
    });
    const policy = redis.policy;
    await redis.waitUntilReady(10_000);
    try {
      await assertNotCluster(redis.client);
    } catch (error) {
      await Promise.all([redis.close(), postgres.close(), embedded?.close()]);
      throw error;
    }
    logger.info('redis: using REDIS_URL');
    rateLimiter = new RedisRateLimiter({ redis: redis.client, policy });
    quotas = new RedisQuotaCounter({ redis: redis.client, policy });
    const redisStreamLog = new RedisStreamLog({ redis: redis.client, policy, logger });
    streamLog = redisStreamLog;
    sessions = new RedisSessionStore({ redis: redis.client, policy });
    revocations = new RedisSessionRevocations({
      redis: redis.client,
      policy,
      retainMs: config.auth.accessTokenTtlSeconds * 1_000,
    });
    // Before the shared connection: the tail's reader unblocks through it.
    closeSteps.push({ name: 'stream tail', run: () => redisStreamLog.close() });
    const connection = redis;
    readiness.register(
      'redis',
      () =>
        connection.isUp() ? breakerCheck(policy.state()) : { ok: false, detail: 'not connected' },
      { critical: false },
    );
    closeSteps.push({ name: 'redis', run: () => connection.close() });
  }

  closeSteps.push({ name: 'postgres', run: () => postgres.close() });
  if (embedded !== undefined)
    closeSteps.push({ name: 'embedded postgres', run: () => embedded.close() });
  return {
    postgres,
    embedded: embedded !== undefined,
    rateLimiter,
    quotas,
    streamLog,
    sessions,
    revocations,
    closeSteps,
  };
}

const breakerCheck = (state: 'closed' | 'half-open' | 'open') =>
  state === 'open' ? { ok: false, detail: 'circuit open' } : { ok: true };
