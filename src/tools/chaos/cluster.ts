import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { KillSignal } from './kill-schedule.js';

export type Role = 'api' | 'stream' | 'engine';

/** One place in the cluster (a Deployment's replica); each restart is a new pod name. */
export interface Slot {
  readonly name: string;
  readonly role: Role;
  readonly grpcPort: number;
  readonly httpPort: number;
  generation: number;
  pod: string;
  child: ChildProcess | undefined;
  ready: boolean;
  exited: Promise<void>;
}

export interface PodEvent {
  readonly pod: string;
  readonly role: Role;
  readonly line: Record<string, unknown>;
}

/** Log lines the runner reacts to or counts; everything goes to the pod's log file as well. */
const WATCHED = new Set([
  'app started',
  'engine shard started',
  'engine shard takeover',
  'engine shard leadership lost; stopping the shard',
  'engine shard lost leadership; stopping',
  'session migrated',
]);

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (typeof address !== 'object' || address === null) throw new Error('no free port');
  return address.port;
}

/**
 * Real processes of the app, one per slot, on loopback: the same entry point a pod runs, with
 * telemetry preloaded. A slot keeps its ports across restarts (a Service's address), and each
 * start gets a new POD_NAME, as a rescheduled pod does.
 */
export class LocalCluster {
  readonly slots: Slot[] = [];
  readonly events: PodEvent[] = [];
  readonly #logs: WriteStream[] = [];
  readonly #spawnListeners: ((slot: Slot) => void)[] = [];

  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {}

  async add(name: string, role: Role): Promise<Slot> {
    const slot: Slot = {
      name,
      role,
      grpcPort: await freePort(),
      httpPort: await freePort(),
      generation: 0,
      pod: name,
      child: undefined,
      ready: false,
      exited: Promise.resolve(),
    };
    this.slots.push(slot);
    return slot;
  }

  /**
   * Calls `listener` each time a slot's next pod is spawned (its new name set), before it is up:
   * when Kubernetes discovery would first list the pod.
   */
  onSpawn(listener: (slot: Slot) => void): void {
    this.#spawnListeners.push(listener);
  }

  address(role: Role): string {
    const ports = this.slots.filter((s) => s.role === role).map((s) => `127.0.0.1:${s.grpcPort}`);
    return `ipv4:${ports.join(',')}`;
  }

  /** Starts the slot's next pod; resolves once it logs `app started`. */
  async start(slot: Slot, timeoutMs = 120_000): Promise<void> {
    slot.generation += 1;
    slot.pod = `${slot.name}-g${slot.generation}`;
    slot.ready = false;
    const log = createWriteStream(join(this.logDir, `${slot.pod}.log`));
    this.#logs.push(log);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './src/telemetry/instrument.ts', 'src/main.ts'],
      {
        env: {
          ...this.env,
          ROLE: slot.role,
          POD_NAME: slot.pod,
          HOST: '127.0.0.1',
          GRPC_PORT: String(slot.grpcPort),
          HTTP_PORT: String(slot.httpPort),
          ...(slot.role === 'api' ? { ENGINE_ADDRESS: this.address('engine') } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    slot.child = child;
    for (const listener of this.#spawnListeners) listener(slot);
    child.stderr.pipe(log, { end: false });
    const { pod, role } = slot;
    const started = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (text) => {
        log.write(`${text}\n`);
        if (!text.includes('"msg"')) return;
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return;
        }
        if (typeof line.msg !== 'string' || !WATCHED.has(line.msg)) return;
        this.events.push({ pod, role, line });
        if (line.msg === 'app started') resolve();
      });
    });
    slot.exited = once(child, 'exit').then(() => {
      slot.ready = false;
    });
    const timeout = new Promise<never>((_, reject) => {
      setTimeout(() => {
        reject(new Error(`${pod} did not start in ${timeoutMs} ms`));
      }, timeoutMs).unref();
    });
    const died = slot.exited.then(() => {
      throw new Error(`${pod} exited while starting`);
    });
    await Promise.race([started, timeout, died]);
    slot.ready = true;
  }

  /** Sends the signal and waits for the exit (a SIGTERM past `graceMs` is followed by SIGKILL). */
  async kill(slot: Slot, signal: KillSignal, graceMs = 30_000): Promise<void> {
    const child = slot.child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    slot.ready = false;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await slot.exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await Promise.all(this.slots.map((slot) => this.kill(slot, 'SIGTERM', 15_000)));
    await Promise.all(this.#logs.map((log) => new Promise((resolve) => log.end(resolve))));
  }

  count(msg: string, role?: Role): number {
    return this.events.filter((e) => e.line.msg === msg && (role === undefined || e.role === role))
      .length;
  }
}
