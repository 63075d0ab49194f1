// bench:http's fourth server: this project's HTTP layer alone (hooks, metrics, logger), without
// the gRPC server, the database or telemetry, to tell per-request cost from process cost.
// A second argument ends the process after that many seconds, so that `node --cpu-prof` writes
// its profile: `node --cpu-prof --import tsx bench/support/http-only.ts 8099 20`.
import { Readiness } from '../../src/lifecycle/readiness.js';
import { createLogger, createMetricsRegistry } from '../../src/telemetry/index.js';
import { buildHttpServer } from '../../src/transport/http/server.js';

const port = Number(process.argv[2]);
const app = await buildHttpServer({
  host: '127.0.0.1',
  port,
  logger: createLogger({ level: 'warn', base: {} }),
  registry: createMetricsRegistry({ version: 'bench', role: 'all' }),
  readiness: new Readiness(),
  tls: undefined,
  tracing: false,
});
await app.listen({ host: '127.0.0.1', port });
const exitAfterSeconds = Number(process.argv[3] ?? NaN);
if (Number.isFinite(exitAfterSeconds)) setTimeout(() => process.exit(0), exitAfterSeconds * 1000);
