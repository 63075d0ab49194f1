import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/**
 * Gives the server under test a core of its own: the last core for the server, the others for
 * this process (the load generator), so that neither steals the other's CPU and throughput
 * measures the server alone. Needs Linux's `taskset` and two cores; returns the server's core,
 * or undefined (nothing pinned) without them.
 */
export function pinCores(): number | undefined {
  const cores = availableParallelism();
  if (cores < 2) return undefined;
  const server = cores - 1;
  const self = spawnSync('taskset', ['-a', '-p', '-c', `0-${server - 1}`, String(process.pid)]);
  return self.status === 0 ? server : undefined;
}

/** Starts a server process (on `cpu` if given) and resolves once `url` answers 200. */
export async function startServer(
  args: string[],
  env: Record<string, string>,
  url: string,
  cpu?: number,
): Promise<ChildProcess> {
  const [command, argv] =
    cpu === undefined
      ? [process.execPath, args]
      : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let attempt = 0; attempt < 1200; attempt += 1) {
    try {
      if ((await fetch(url)).ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not answer ${url}`);
}

export async function stopServer(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** The app as `npm start` runs it, with telemetry on unless told otherwise. */
export function appArgs(): string[] {
  return ['--import', 'tsx', '--import', './src/telemetry/instrument.ts', 'src/main.ts'];
}

export async function appEnv(extra: Record<string, string> = {}) {
  const httpPort = await freePort();
  return {
    httpPort,
    env: {
      HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      GRPC_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      DATA_DIR: '.data/bench',
      // Bot orders would add load the comparison does not ask for.
      SIMULATOR_ENABLED: 'false',
      ...extra,
    },
  };
}

/**
 * CPU seconds (user + system) a process (or one of its threads) has used so far, from /proc
 * (Linux). Measuring the server's own CPU per request is insensitive to the load generator
 * sharing the cores, which throughput is not.
 */
export function cpuSeconds(pid: number, thread?: number): number {
  const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  return ticksOf(readFileSync(path, 'utf8')) / CLOCK_TICKS;
}

/** CPU seconds the calling thread (main or worker) has used so far. */
export function threadCpuSeconds(): number {
  return ticksOf(readFileSync('/proc/thread-self/stat', 'utf8')) / CLOCK_TICKS;
}

/** CPU seconds used so far by every process named `command` (e.g. PostgreSQL's backends). */
export function commandCpuSeconds(command: string): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === command) {
        ticks += ticksOf(stat);
      }
    } catch {
      // the process ended while we looked
    }
  }
  return ticks / CLOCK_TICKS;
}

function ticksOf(stat: string): number {
  // Fields after the command name (which may hold spaces, so split after its closing paren).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;
