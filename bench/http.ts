/**
 * bench:http — /healthz throughput of this server (metrics, logging, tracing) against a bare
 * Fastify, in the same run. The server also runs with telemetry off, and its HTTP layer alone
 * (no gRPC, no database), to show where any cost comes from.
 *
 * Method (as Fastify's own benchmarks: autocannon with 10 pipelined requests per connection):
 * the servers share one core, the load generator has the others, so that throughput measures
 * the server, not how the two processes happened to split the cores; all servers run at once
 * and the load moves between them every `--seconds`, round after round, so that a slow minute
 * of a shared host touches every variant alike.
 * Usage: npm run bench:http [-- --seconds 2 --rounds 8 --connections 50 --pipelining 10 --shared]
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  appArgs,
  appEnv,
  cpuSeconds,
  freePort,
  pinCores,
  startServer,
  stopServer,
} from './support/servers.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '8' },
    pipelining: { type: 'string', default: '10' },
    // Let the server and the load generator share every core (no pinning).
    shared: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const pipelining = Number(values.pipelining);
const serverCpu = values.shared ? undefined : pinCores();

interface Run {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server CPU (user + system) per request: what capacity per core depends on. */
  readonly cpuUs: number;
}

interface Server {
  readonly url: string;
  readonly child: ChildProcess;
}

async function load(server: Server, duration: number): Promise<Run> {
  const { url, child } = server;
  if (child.pid === undefined) throw new Error('server has no pid');
  const cpuBefore = cpuSeconds(child.pid);
  const result = await autocannon({ url, connections, pipelining, duration });
  const cpu = cpuSeconds(child.pid) - cpuBefore;
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

async function start(args: string[], env: Record<string, string>, port: number): Promise<Server> {
  const url = `http://127.0.0.1:${port}/healthz`;
  return { url, child: await startServer(args, env, url, serverCpu) };
}

const variants: Record<string, () => Promise<Server>> = {
  'bare fastify': async () => {
    const port = await freePort();
    return start(['--import', 'tsx', 'bench/support/bare-fastify.ts', String(port)], {}, port);
  },
  'this server': async () => {
    const { httpPort, env } = await appEnv({ DATA_DIR: '.data/bench-http' });
    return start(appArgs(), env, httpPort);
  },
  'http layer only': async () => {
    const port = await freePort();
    return start(['--import', 'tsx', 'bench/support/http-only.ts', String(port)], {}, port);
  },
  'this server, telemetry off': async () => {
    const { httpPort, env } = await appEnv({
      TELEMETRY_ENABLED: 'false',
      DATA_DIR: '.data/bench-http-off',
    });
    return start(appArgs(), env, httpPort);
  },
};

// Every server runs for the whole benchmark (idle ones cost nothing), and the load moves from
// one to the next every `seconds`: on a shared or throttled machine, drift then touches every
// variant alike instead of whichever happened to run during a slow minute.
const servers = new Map<string, Server>();
const runs = new Map<string, Run[]>();
try {
  for (const [name, startVariant] of Object.entries(variants)) {
    const server = await startVariant();
    servers.set(name, server);
    runs.set(name, []);
    await load(server, 2); // warm the JIT and the connections; not measured
  }
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, server] of servers) runs.get(name)?.push(await load(server, seconds));
  }
} finally {
  await Promise.all([...servers.values()].map(({ child }) => stopServer(child)));
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
  `${connections} connections, ${seconds} s x ${rounds} rounds each; ${
    serverCpu === undefined
      ? 'server and load generator share the cores'
      : `server on core ${serverCpu}, load generator on the others`
  }; target: this server >= 0.9 x bare`,
);
const roundRatios = (runs.get('this server') ?? []).map(
  (run, i) => Math.round((run.rps / (runs.get('bare fastify')?.[i]?.rps ?? NaN)) * 1000) / 1000,
);
const appRps = Math.round(mean('this server', 'rps'));
const bareRps = Math.round(mean('bare fastify', 'rps'));
console.log(
  JSON.stringify({
    bench: 'http',
    server_pinned: serverCpu !== undefined,
    app_rps: appRps,
    bare_rps: bareRps,
    ratio: Math.round((appRps / bareRps) * 1000) / 1000,
    // this server / bare in each round (adjacent slices): the spread shows the noise.
    ratio_median: [...roundRatios].sort((a, b) => a - b)[Math.floor(roundRatios.length / 2)],
    ratio_min: Math.min(...roundRatios),
    ratio_max: Math.max(...roundRatios),
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
