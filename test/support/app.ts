import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startApp, type App } from '../../src/app.js';
import {
  createLogger,
  createMetricsRegistry,
  type Logger,
  type Registry,
} from '../../src/telemetry/index.js';

/** Collects every JSON log line a logger writes, for assertions. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });

  logger(level = 'debug'): Logger {
    return createLogger({ level, base: { service: 'test' } }, this.stream);
  }

  find(msg: string, where: Record<string, unknown> = {}): Record<string, unknown> | undefined {
    return this.lines.find(
      (line) => line.msg === msg && Object.entries(where).every(([k, v]) => line[k] === v),
    );
  }
}

export interface TestApp extends App {
  readonly config: Config;
  readonly registry: Registry;
  readonly logs: LogCapture;
  readonly httpUrl: string;
  readonly grpcAddress: string;
  stop(): Promise<number>;
}

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Tests register many users, all from 127.0.0.1: the production limit per address would refuse
 * them. A test of that limit sets its own values.
 */
export const GENEROUS_REGISTRATION = {
  REGISTER_IP_BURST: '100000',
  REGISTER_IP_PER_MIN: '600000',
} as const;

/** A schema name no other test run uses. */
export const uniqueName = (prefix: string) =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

/**
 * Starts the app in this process on ephemeral loopback ports, with no drain delay, on the
 * real PostgreSQL in a schema of its own (dropped by `stop()`), and cheap password hashing.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const schema = uniqueName('app');
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    PG_SCHEMA: schema,
    PG_POOL_MAX: '4',
    AUTH_ARGON2_MEMORY_KIB: '1024',
    AUTH_ARGON2_TIME_COST: '1',
    DATA_DIR: '.data/test',
    REDIS_KEY_PREFIX: `${schema}:`,
    HOST: '127.0.0.1',
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    LOG_LEVEL: 'debug',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
    STREAM_DRAIN_WINDOW_MS: '200',
    POD_NAME: 'test-pod',
    TELEMETRY_ENABLED: 'false',
    // Bots placing orders would disturb tests that count orders and trades; opt in.
    SIMULATOR_ENABLED: 'false',
    ...GENEROUS_REGISTRATION,
    ...env,
  });
  const logs = new LogCapture();
  const registry = createMetricsRegistry({ version: config.version, role: config.role });
  const app = await startApp(config, { logger: logs.logger(), registry });
  return {
    ...app,
    config,
    registry,
    logs,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    grpcAddress: `127.0.0.1:${app.grpcPort}`,
    stop: async () => {
      const code = await app.shutdown.run('test finished');
      if (config.databaseUrl !== undefined && config.postgres.schema !== undefined) {
        await dropSchema(config.databaseUrl, config.postgres.schema);
      }
      return code;
    },
  };
}

/** The value of one sample in Prometheus text exposition, or undefined if absent. */
export function sample(
  metricsText: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Deletes a test's Redis keys (`prefix*`, e.g. the `${schema}:` of `deploymentEnv`). */
export async function dropRedisKeys(prefix: string, redisUrl = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500));
  } finally {
    redis.disconnect();
  }
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
