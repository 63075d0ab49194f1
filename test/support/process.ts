import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import {
  dropSchema,
  GENEROUS_REGISTRATION,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueName,
} from './app.js';

/** A free loopback port: bind to 0, read the port, release it. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/**
 * What the processes (pods) of one deployment share: the PostgreSQL schema, the Redis key
 * prefix and the data directory (where the signing keys live, so a token issued by one
 * process verifies on another); with cheap password hashing and no drain delay for tests.
 */
export function deploymentEnv(schema: string, dataDir: string): Record<string, string> {
  return {
    DATABASE_URL: TEST_DATABASE_URL,
    PG_SCHEMA: schema,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `${schema}:`,
    DATA_DIR: dataDir,
    AUTH_ARGON2_MEMORY_KIB: '1024',
    AUTH_ARGON2_TIME_COST: '1',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
  };
}

export interface AppProcess {
  readonly child: ChildProcess;
  readonly httpUrl: string;
  readonly grpcAddress: string;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves with the first log line with this msg (already seen or yet to come). */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/**
 * Runs the app as a real process, the way `npm start` and a pod do (telemetry preloaded).
 * Unless the test chooses a store (DATABASE_URL or DATA_DIR), the process uses the real
 * PostgreSQL in a schema of its own, dropped once the process has exited.
 */
export async function spawnApp(env: Record<string, string> = {}): Promise<AppProcess> {
  const ownSchema =
    env.DATABASE_URL === undefined && env.DATA_DIR === undefined ? uniqueName('proc') : undefined;
  const storeEnv =
    ownSchema === undefined
      ? {}
      : {
          DATABASE_URL: TEST_DATABASE_URL,
          PG_SCHEMA: ownSchema,
          PG_POOL_MAX: '4',
          DATA_DIR: '.data/test-process',
          AUTH_ARGON2_MEMORY_KIB: '1024',
          AUTH_ARGON2_TIME_COST: '1',
        };
  const httpPort = env.HTTP_PORT ?? String(await freePort());
  const grpcPort = env.GRPC_PORT ?? String(await freePort());
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', './src/telemetry/instrument.ts', 'src/main.ts'],
    {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        // Bots placing orders would disturb tests that count orders and trades; opt in.
        SIMULATOR_ENABLED: 'false',
        ...GENEROUS_REGISTRATION,
        ...storeEnv,
        ...env,
        HTTP_PORT: httpPort,
        GRPC_PORT: grpcPort,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.msg === line.msg)) waiter.resolve(line);
  });
  createInterface({ input: child.stderr }).on('line', (text) => stderr.push(text));
  const exited = once(child, 'exit').then(async ([code, signal]) => {
    if (ownSchema !== undefined) await dropSchema(TEST_DATABASE_URL, ownSchema);
    return (code ?? signal) as number | string;
  });

  return {
    child,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    lines,
    stderr,
    exited,
    waitForLog: (msg, timeoutMs = 60_000) => {
      const seen = lines.find((line) => line.msg === msg);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`no log line "${msg}" within ${timeoutMs} ms; stderr: ${stderr.join('\n')}`),
          );
        }, timeoutMs);
        waiters.push({
          msg,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`process exited before "${msg}"; stderr: ${stderr.join('\n')}`));
        });
      });
    },
  };
}
