import { Writable } from 'node:stream';
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

/** Starts the app in this process on ephemeral loopback ports, with no drain delay. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({
    HOST: '127.0.0.1',
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    LOG_LEVEL: 'debug',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '5000',
    POD_NAME: 'test-pod',
    TELEMETRY_ENABLED: 'false',
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
    stop: () => app.shutdown.run('test finished'),
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
