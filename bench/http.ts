/**
 * bench:http — /healthz throughput of this server (metrics, logging, tracing) against a bare
 * Fastify, in the same run, alternating the servers round by round to spread any drift. The
 * server also runs with telemetry off, and its HTTP layer alone (no gRPC, no database), to show
 * where any cost comes from.
 * Usage: npm run bench:http [-- --seconds 5 --connections 50 --rounds 2]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  appArgs,
  appEnv,
  cpuSeconds,
  freePort,
  startServer,
  stopServer,
} from './support/servers.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

interface Run {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU (user + system) per request: what capacity per core depends on. */
  readonly cpuUs: number;
}

async function load(url: string, pid: number): Promise<Run> {
  // Warm up the JIT and connection pools before measuring.
  await autocannon({ url, connections, duration: 1 });
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({ url, connections, duration: seconds });
  const cpu = cpuSeconds(pid) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return {
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuUs: (cpu / result.requests.total) * 1e6,
  };
}

async function measure(args: string[], env: Record<string, string>, port: number): Promise<Run> {
  const url = `http://127.0.0.1:${port}/healthz`;
  const child = await startServer(args, env, url);
  try {
    if (child.pid === undefined) throw new Error('server has no pid');
    return await load(url, child.pid);
  } finally {
    await stopServer(child);
  }
}

const variants = {
  'bare fastify': async () => {
    const port = await freePort();
    return measure(['--import', 'tsx', 'bench/support/bare-fastify.ts', String(port)], {}, port);
  },
  'this server': async () => {
    const { httpPort, env } = await appEnv();
    return measure(appArgs(), env, httpPort);
  },
  'http layer only': async () => {
    const port = await freePort();
    return measure(['--import', 'tsx', 'bench/support/http-only.ts', String(port)], {}, port);
  },
  'this server, telemetry off': async () => {
    const { httpPort, env } = await appEnv({ TELEMETRY_ENABLED: 'false' });
    return measure(appArgs(), env, httpPort);
  },
};

const runs = new Map<string, Run[]>(Object.keys(variants).map((name) => [name, []]));
for (let round = 0; round < rounds; round += 1) {
  for (const [name, run] of Object.entries(variants)) runs.get(name)?.push(await run());
}

const mean = (name: string, key: keyof Run) => {
  const list = runs.get(name) ?? [];
  return list.reduce((sum, run) => sum + run[key], 0) / list.length;
};
const table = Object.fromEntries(
  [...runs.keys()].map((name) => [
    name,
    {
      'req/s': Math.round(mean(name, 'rps')),
      'p50 ms': mean(name, 'p50Ms'),
      'p99 ms': mean(name, 'p99Ms'),
      'vs bare': Math.round((mean(name, 'rps') / mean('bare fastify', 'rps')) * 1000) / 1000,
      'cpu µs/req': Math.round(mean(name, 'cpuUs') * 10) / 10,
      'capacity vs bare':
        Math.round((mean('bare fastify', 'cpuUs') / mean(name, 'cpuUs')) * 1000) / 1000,
    },
  ]),
);
console.table(table);
console.log(
  `${connections} connections, ${seconds} s x ${rounds} rounds each; target: this server >= 0.9 x bare`,
);
const appRps = Math.round(mean('this server', 'rps'));
const bareRps = Math.round(mean('bare fastify', 'rps'));
console.log(
  JSON.stringify({
    bench: 'http',
    app_rps: appRps,
    bare_rps: bareRps,
    ratio: Math.round((appRps / bareRps) * 1000) / 1000,
    app_telemetry_off_rps: Math.round(mean('this server, telemetry off', 'rps')),
    http_layer_rps: Math.round(mean('http layer only', 'rps')),
    app_p99_ms: mean('this server', 'p99Ms'),
    bare_p99_ms: mean('bare fastify', 'p99Ms'),
    app_cpu_us_per_req: Math.round(mean('this server', 'cpuUs') * 10) / 10,
    bare_cpu_us_per_req: Math.round(mean('bare fastify', 'cpuUs') * 10) / 10,
    // Requests per server CPU-second, relative to bare: throughput once the server is the
    // bottleneck (the load generator no longer competes for the cores).
    capacity_ratio:
      Math.round((mean('bare fastify', 'cpuUs') / mean('this server', 'cpuUs')) * 1000) / 1000,
  }),
);
