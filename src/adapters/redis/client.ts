import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createUpSignal } from '../metrics/up-gauge.js';
import { createDependencyPolicy } from '../resilience/dependency-policy.js';
import type {
  BreakerOptions,
  DependencyPolicy,
  RetryOptions,
} from '../resilience/dependency-policy.js';
import { isRedisFailure } from './redis-errors.js';
import { reconnectDelayMs } from './reconnect-delay.js';
import type { ReconnectOptions } from './reconnect-delay.js';

export interface RedisClientOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  readonly url: string;
  /** Prepended to every key, Lua script keys included (e.g. 'tp:' or a per-test prefix). */
  readonly keyPrefix?: string;
  /** A command without a reply after this long fails. Default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Reconnections a command that was in flight may wait for before failing. Default 1: a
   * caller learns quickly that Redis is gone, and the breaker / fail-open decide what next.
   */
  readonly maxRetriesPerRequest?: number;
  /** Default: initial 50 ms, max 2000 ms. */
  readonly reconnect?: ReconnectOptions;
  /** Shown in CLIENT LIST. */
  readonly connectionName?: string;
  /** Jitter source for reconnect delays (tests pass a constant). */
  readonly random?: () => number;
  /** The `redis` dependency policy that adapters on this connection run their calls under. */
  readonly resilience?: RedisResilienceOptions;
}

export interface RedisResilienceOptions {
  readonly timeoutMs: number;
  readonly retry?: RetryOptions;
  readonly breaker: BreakerOptions;
}

export const DEFAULT_REDIS_RESILIENCE: RedisResilienceOptions = {
  timeoutMs: 1_000,
  retry: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 100 },
  breaker: { threshold: 5, halfOpenAfterMs: 2_000 },
};

export interface RedisConnection {
  readonly client: Redis;
  /** Timeout + breaker (+ retries for idempotent calls) for commands on this connection. */
  readonly policy: DependencyPolicy;
  /** True between 'ready' and the next 'close'. */
  isUp(): boolean;
  /** Resolves once the client is ready; rejects after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void>;
  /**
   * QUIT when connected (resolves once the socket has closed), otherwise drop the socket; stops
   * reconnecting. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * An ioredis client with the platform's failure behaviour.
 *
 * The offline queue is disabled: while Redis is down a command fails at once instead of waiting
 * in an unbounded in-memory queue and firing in a burst, with stale meaning (a rate-limit
 * decision minutes late), when Redis comes back. Unfulfilled commands are not re-sent on
 * reconnect either, since the caller has already been told they failed and replaying a
 * non-idempotent script (a GCRA consume) would count it twice. The price: commands before the
 * first 'ready' fail, so wiring awaits `waitUntilReady` at startup.
 */
export function createRedisConnection(options: RedisClientOptions): RedisConnection {
  const { logger, registry } = options;
  const log = logger.child({ dependency: 'redis' });
  const reconnect = options.reconnect ?? { initialDelayMs: 50, maxDelayMs: 2_000 };
  const client = new Redis(options.url, {
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 1,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => reconnectDelayMs(attempt, reconnect, options.random),
  });

  const connectionUp = createUpSignal({
    registry,
    name: 'redis_connection_up',
    help: 'Whether the Redis connections of this process are ready (1) or not (0).',
  });
  const dependencyUp = createUpSignal({
    registry,
    name: 'dependency_up',
    help: 'Whether a dependency answers its health check (1) or not (0).',
    labels: { dependency: 'redis' },
  });
  const setUp = (up: boolean): void => {
    connectionUp.set(up);
    dependencyUp.set(up);
  };

  // Log transitions, not retries: an outage is one error line and one "connected" line, however
  // many reconnect attempts it takes.
  let up = false;
  let everReady = false;
  let errorLogged = false;
  let closedByUs = false;
  client.on('ready', () => {
    log.info({ reconnected: everReady }, 'redis connected');
    up = true;
    everReady = true;
    errorLogged = false;
    setUp(true);
  });
  client.on('error', (error: Error) => {
    if (errorLogged) return;
    errorLogged = true;
    log.error({ err: error }, 'redis connection error');
  });
  client.on('close', () => {
    if (up && !closedByUs) log.warn('redis disconnected; reconnecting');
    up = false;
    setUp(false);
  });
  client.on('reconnecting', (delayMs: number) => {
    log.debug({ delayMs }, 'redis reconnecting');
  });
  client.on('end', () => {
    up = false;
    setUp(false);
  });

  const policy = createDependencyPolicy({
    dependency: 'redis',
    ...(options.resilience ?? DEFAULT_REDIS_RESILIENCE),
    isFailure: isRedisFailure,
    logger,
    registry,
  });

  let closing: Promise<void> | undefined;
  return {
    client,
    policy,
    isUp: () => up,
    waitUntilReady: (timeoutMs) => waitUntilReady(client, timeoutMs),
    close() {
      closing ??= (async () => {
        closedByUs = true;
        if (client.status === 'ready') {
          // QUIT resolves on the server's OK; the socket closes after it. Wait for that, so a
          // caller that exits next leaves nothing half closed (a second at most).
          const ended = once(client, 'end', { signal: AbortSignal.timeout(1_000) });
          await client.quit().catch(() => {
            client.disconnect();
          });
          await ended.catch(() => {
            client.disconnect();
          });
        } else if (client.status !== 'end') {
          client.disconnect();
        }
        log.info('redis connection closed');
        connectionUp.dispose();
        dependencyUp.dispose();
        policy.dispose();
      })();
      return closing;
    },
  };
}

function waitUntilReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

/**
 * Refuses a Redis Cluster node at start-up rather than at the first relay pass. This client is
 * not a cluster client, and the stream log is not shaped for Cluster: a relay pass appends to
 * many streams in one script and the tail reads every stream in one XREAD, which Cluster
 * refuses (CROSSSLOT) once two streams hash to different slots; a key on another shard would
 * answer MOVED. A standalone Redis, a primary with replicas, or Sentinel serve.
 */
export async function assertNotCluster(client: Redis): Promise<void> {
  const info = await client.info('cluster');
  if (/^cluster_enabled:1\b/m.test(info)) {
    throw new Error(
      'REDIS_URL points at a Redis Cluster node, which this platform does not support (its stream log appends and reads many streams per command, across hash slots): use a standalone Redis, a primary with replicas, or Sentinel (ElastiCache: cluster mode disabled)',
    );
  }
}
