/**
 * bench:http — /healthz throughput of this server (full middleware: metrics, logging,
 * tracing) against a bare Fastify, in the same run, alternating to spread any drift.
 * Usage: npm run bench:http [-- --seconds 5 --connections 50 --rounds 2]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { appArgs, appEnv, freePort, startServer, stopServer } from './support/servers.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    // Extra environment for the app, e.g. --env TELEMETRY_ENABLED=false
    env: { type: 'string', multiple: true, default: [] },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

interface Run {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function load(url: string): Promise<Run> {
  // Warm up the JIT and connection pools before measuring.
  await autocannon({ url, connections, duration: 1 });
  const result = await autocannon({ url, connections, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return { rps: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99 };
}

async function measureBare(): Promise<Run> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/healthz`;
  const child = await startServer(
    ['--import', 'tsx', 'bench/support/bare-fastify.ts', String(port)],
    {},
    url,
  );
  try {
    return await load(url);
  } finally {
    await stopServer(child);
  }
}

async function measureApp(): Promise<Run> {
  const extra = Object.fromEntries(
    values.env.map((pair) => pair.split('=', 2) as [string, string]),
  );
  const { httpPort, env } = await appEnv(extra);
  const url = `http://127.0.0.1:${httpPort}/healthz`;
  const child = await startServer(appArgs(), env, url);
  try {
    return await load(url);
  } finally {
    await stopServer(child);
  }
}

const mean = (runs: Run[], key: keyof Run) =>
  runs.reduce((sum, run) => sum + run[key], 0) / runs.length;

const bare: Run[] = [];
const app: Run[] = [];
for (let round = 0; round < rounds; round += 1) {
  bare.push(await measureBare());
  app.push(await measureApp());
}

const appRps = Math.round(mean(app, 'rps'));
const bareRps = Math.round(mean(bare, 'rps'));
const ratio = Math.round((appRps / bareRps) * 1000) / 1000;
console.table({
  'bare fastify': {
    'req/s': bareRps,
    'p50 ms': mean(bare, 'p50Ms'),
    'p99 ms': mean(bare, 'p99Ms'),
  },
  'this server': { 'req/s': appRps, 'p50 ms': mean(app, 'p50Ms'), 'p99 ms': mean(app, 'p99Ms') },
});
console.log(
  `${connections} connections, ${seconds} s x ${rounds} rounds each; ratio ${ratio} (target >= 0.9)`,
);
console.log(
  JSON.stringify({
    bench: 'http',
    app_rps: appRps,
    bare_rps: bareRps,
    ratio,
    app_p99_ms: mean(app, 'p99Ms'),
    bare_p99_ms: mean(bare, 'p99Ms'),
  }),
);
