/**
 * `npm run bench:fanout -- --clients N --rate R --duration S`: the same N subscribers and the
 * same publish rate (R book updates/s, each to every subscriber) against a bare `ws`
 * broadcaster, Socket.IO 4 and this gateway (over native gRPC and over WebSocket at /ws, each
 * with its full protocol), one after the other in one run.
 * Each server runs in a process of its own; the clients run here. Prints per server delivered
 * messages/s (received by a second after the last publish, on the clients' clock), p99
 * publish-to-receipt latency (of every message received), server CPU per message received and
 * memory per connection; the last line is JSON.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { credentials, Metadata, makeGenericClientConstructor, type Client } from '@grpc/grpc-js';
import { io as socketIo, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import {
  MarketDataService,
  SubscribeResponseSchema,
  type SubscribeResponse,
} from '../src/gen/trading/v1/market_data_pb.js';
import { SessionService } from '../src/gen/trading/v1/session_pb.js';
import { ClientFrameSchema, ServerFrameSchema } from '../src/gen/trading/v1/websocket_pb.js';
import { grpcServiceDefinition } from '../src/shared/grpc/service-definition.js';
import type { FromServer, ServerKind, ToServer } from './support/fanout-server.js';

const KINDS = ['ws', 'socketio', 'grpc', 'websocket'] as const;

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    // A comma-separated subset of the servers, for a quicker comparison (the JSON then has
    // null for the others).
    only: { type: 'string', default: KINDS.join(',') },
    // Where each server writes a V8 CPU profile of its run (from the first publish to the CPU
    // reading), named after the server.
    'cpu-prof': { type: 'string' },
  },
});
const clients = Number(values.clients);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const only = new Set(values.only.split(','));
for (const kind of only) {
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new Error(`--only: unknown server ${kind}; choose from ${KINDS.join(', ')}`);
  }
}
const cpuProfDir = values['cpu-prof'];
const now = () => performance.timeOrigin + performance.now();
/** Seconds after the last publish within which a message counts as delivered. */
const GRACE_S = 1;

interface Result {
  kind: ServerKind;
  connected: number;
  connectS: number;
  /** Messages received by GRACE_S after the last publish, on the clients' clock. */
  delivered: number;
  /** Messages received after that (still counted in the latencies and the CPU per message). */
  late: number;
  messagesPerS: number;
  /** Latency from when each update was due (the offered schedule) to its receipt. */
  p50Ms: number;
  p99Ms: number;
  /** From when the server published it instead: blind to a server falling behind. */
  p99FromPublishMs: number;
  /** How far behind the schedule the server published, at most. */
  publishLagMs: number;
  /** Of the updates offered to the connected clients, the share they received (at any time). */
  receivedFraction: number;
  cpuUsPerMessage: number;
  /** The part of it spent in the kernel (socket writes, loopback TCP). */
  systemUsPerMessage: number;
  bytesPerConnection: number;
}

/** Receipts of one run: the seq and the time of each message any client received. */
class Receipts {
  readonly seqs: Uint32Array;
  readonly times: Float64Array;
  count = 0;
  constructor(capacity: number) {
    this.seqs = new Uint32Array(capacity);
    this.times = new Float64Array(capacity);
  }
  add(seq: number): void {
    if (this.count >= this.seqs.length) return;
    this.seqs[this.count] = seq;
    this.times[this.count] = now();
    this.count += 1;
  }
  /**
   * A book delta: a conflated one stands for every update from `firstSeq` to `seq`, each of
   * which the client then has, as of now.
   */
  addDelta(seq: number, firstSeq: number): void {
    for (let s = firstSeq > 0 && firstSeq < seq ? firstSeq : seq; s <= seq; s++) this.add(s);
  }
}

function request(child: ChildProcess, message: ToServer, type: FromServer['type']) {
  const answer = new Promise<FromServer>((resolve) => {
    const listener = (m: FromServer) => {
      if (m.type !== type) return;
      child.off('message', listener);
      resolve(m);
    };
    child.on('message', listener);
  });
  child.send(message);
  return answer;
}

/** Opens `n` subscribers, at most `parallel` connecting at once; resolves to a closer. */
async function connect(kind: ServerKind, port: number, receipts: Receipts) {
  const closers: (() => void)[] = [];
  const openOne = (): Promise<void> => {
    if (kind === 'ws') {
      const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      socket.binaryType = 'nodebuffer';
      socket.on('message', (data: Buffer) => {
        receipts.add(Number(fromBinary(SubscribeResponseSchema, data).seq));
      });
      closers.push(() => {
        socket.terminate();
      });
      return once(socket, 'open').then(() => undefined);
    }
    if (kind === 'websocket') {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
      socket.binaryType = 'nodebuffer';
      const frame = (value: Parameters<typeof create<typeof ClientFrameSchema>>[1]) => {
        socket.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, value)));
      };
      closers.push(() => {
        socket.terminate();
      });
      return new Promise((resolve, reject) => {
        socket.once('open', () => {
          frame({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
        });
        socket.once('error', reject);
        socket.on('message', (data: Buffer) => {
          const server = fromBinary(ServerFrameSchema, data).frame;
          if (server.case !== 'market') {
            if (server.case === 'error') reject(new Error(server.value.message));
            return;
          }
          const message = server.value;
          switch (message.event.case) {
            case 'delta':
              receipts.addDelta(Number(message.seq), Number(message.event.value.firstSeq));
              break;
            case 'heartbeat':
              frame({ frame: { case: 'pong', value: { heartbeatId: message.event.value.id } } });
              break;
            default:
              // The start message: subscribed.
              resolve();
          }
        });
      });
    }
    if (kind === 'socketio') {
      const socket: Socket = socketIo(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
      });
      socket.on('d', (data: Buffer) => {
        receipts.add(Number(fromBinary(SubscribeResponseSchema, data).seq));
      });
      closers.push(() => socket.close());
      return new Promise((resolve, reject) => {
        socket.once('connect', () => {
          resolve();
        });
        socket.once('connect_error', reject);
      });
    }
    // Each subscriber its own HTTP/2 connection, as each WebSocket client has its own socket.
    const options = { 'grpc.use_local_subchannel_pool': 1 };
    const Market = makeGenericClientConstructor(grpcServiceDefinition(MarketDataService), 'm');
    const Session = makeGenericClientConstructor(grpcServiceDefinition(SessionService), 's');
    const market = new Market(`127.0.0.1:${port}`, credentials.createInsecure(), options);
    const session = new Session(`127.0.0.1:${port}`, credentials.createInsecure(), {
      channelOverride: market.getChannel(),
    }) as Client & Record<string, (...args: unknown[]) => unknown>;
    const call = (
      market as unknown as Record<
        string,
        (r: unknown, m: Metadata) => NodeJS.EventEmitter & { cancel(): void }
      >
    ).subscribe?.({ symbols: ['BTC-USD'] }, new Metadata());
    if (call === undefined) throw new Error('no subscribe');
    closers.push(() => {
      call.cancel();
      market.close();
    });
    return new Promise((resolve, reject) => {
      call.on('data', (message: SubscribeResponse) => {
        switch (message.event.case) {
          case 'delta':
            receipts.addDelta(Number(message.seq), Number(message.event.value.firstSeq));
            break;
          case 'heartbeat':
            session.pong?.(
              { sessionId: message.sessionId, heartbeatId: message.event.value.id },
              () => undefined,
            );
            break;
          default:
            // The start message: subscribed.
            resolve();
        }
      });
      call.on('error', (error: Error & { code?: number }) => {
        if (error.code !== 1) reject(error);
      });
    });
  };
  const parallel = 200;
  let next = 0;
  let connected = 0;
  const worker = async () => {
    while (next < clients) {
      next += 1;
      try {
        await Promise.race([
          openOne(),
          new Promise((_, reject) =>
            setTimeout(() => {
              reject(new Error('timeout'));
            }, 20_000),
          ),
        ]);
        connected += 1;
      } catch {
        // counted as not connected
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return {
    connected,
    close: () => {
      for (const close of closers) close();
    },
  };
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function run(kind: ServerKind): Promise<Result> {
  const child = fork(new URL('./support/fanout-server.ts', import.meta.url).pathname, [kind], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      ...(cpuProfDir === undefined ? {} : { FANOUT_CPU_PROF_DIR: cpuProfDir }),
    },
  });
  try {
    const [ready] = (await once(child, 'message')) as [FromServer];
    if (ready.type !== 'ready') throw new Error('server not ready');
    const before = (await request(child, { cmd: 'rss' }, 'rss')) as { rss: number };
    const receipts = new Receipts(Math.ceil(clients * rate * durationS * 1.1) + 1_000);
    const connectStarted = now();
    const { connected, close } = await connect(kind, ready.port, receipts);
    const connectS = (now() - connectStarted) / 1_000;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterConnect = (await request(child, { cmd: 'rss' }, 'rss')) as { rss: number };
    receipts.count = 0;
    // On the clients' clock: a busy server's own timer would wait for its backlog.
    const cutoff = now() + (durationS + GRACE_S) * 1_000;
    const done = (await request(child, { cmd: 'run', rate, durationS }, 'done')) as Extract<
      FromServer,
      { type: 'done' }
    >;
    close();
    let inWindow = 0;
    for (let i = 0; i < receipts.count; i++)
      if ((receipts.times[i] ?? Infinity) <= cutoff) inWindow++;
    // Over every update offered to every connected client: one never received (still queued
    // when the clients closed) counts as later than any that was, so a server cannot improve
    // its percentiles by not delivering.
    const offered = Math.max(receipts.count, connected * done.due.length);
    const latencies = new Float64Array(offered).fill(Infinity);
    const fromPublish = new Float64Array(offered).fill(Infinity);
    for (let i = 0; i < receipts.count; i++) {
      const index = (receipts.seqs[i] ?? 1) - 1;
      const received = receipts.times[i] ?? NaN;
      latencies[i] = received - (done.due[index] ?? NaN);
      fromPublish[i] = received - (done.published[index] ?? NaN);
    }
    latencies.sort();
    fromPublish.sort();
    let publishLagMs = 0;
    done.published.forEach((at, i) => {
      publishLagMs = Math.max(publishLagMs, at - (done.due[i] ?? at));
    });
    return {
      kind,
      connected,
      connectS,
      delivered: inWindow,
      late: receipts.count - inWindow,
      messagesPerS: inWindow / durationS,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      p99FromPublishMs: quantile(fromPublish, 0.99),
      publishLagMs,
      receivedFraction: receipts.count / Math.max(1, offered),
      cpuUsPerMessage: done.cpuUs / Math.max(1, receipts.count),
      systemUsPerMessage: done.systemUs / Math.max(1, receipts.count),
      bytesPerConnection: (afterConnect.rss - before.rss) / Math.max(1, connected),
    };
  } finally {
    child.kill('SIGKILL');
  }
}

const results = new Map<ServerKind, Result>();
for (const kind of KINDS) {
  if (!only.has(kind)) continue;
  const result = await run(kind);
  results.set(kind, result);
  console.log(
    `${kind.padEnd(9)} connected ${result.connected}/${clients} in ${result.connectS.toFixed(1)} s; ` +
      `${Math.round(result.messagesPerS)} msg/s delivered (offered ${clients * rate}; ` +
      `${result.late} more after the window; ` +
      `${(result.receivedFraction * 100).toFixed(1)} % of the offered updates received); ` +
      `p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms ` +
      `(${result.p99FromPublishMs.toFixed(1)} from the publish, which lagged up to ` +
      `${Math.round(result.publishLagMs)} ms); ` +
      `server CPU ${result.cpuUsPerMessage.toFixed(2)} µs/msg ` +
      `(${result.systemUsPerMessage.toFixed(2)} in the kernel); ` +
      `${(result.bytesPerConnection / 1_024).toFixed(1)} KiB/connection; ` +
      `load average ${os.loadavg()[0]?.toFixed(1)}`,
  );
}
const ws = results.get('ws');
const socketio = results.get('socketio');
const grpc = results.get('grpc');
const gateway = results.get('websocket');
/** A figure rounded to `digits`, or null when its server did not run. */
const fixed = (value: number | undefined, digits = 0) =>
  value === undefined ? null : Number(value.toFixed(digits));
const ratio = (a: Result | undefined, b: Result | undefined) =>
  a === undefined || b === undefined ? null : fixed(a.messagesPerS / b.messagesPerS, 2);
console.log(
  'grpc: the gateway over native gRPC server streams (MarketDataService.Subscribe); ' +
    'websocket: the gateway over /ws (binary ServerFrames), the headline figures',
);
console.log(
  JSON.stringify({
    bench: 'fanout',
    transport: 'websocket',
    clients,
    rate,
    duration_s: durationS,
    messages_per_s: fixed(gateway?.messagesPerS),
    p99_ms: fixed(gateway?.p99Ms, 1),
    ws_messages_per_s: fixed(ws?.messagesPerS),
    ws_p99_ms: fixed(ws?.p99Ms, 1),
    socketio_messages_per_s: fixed(socketio?.messagesPerS),
    socketio_p99_ms: fixed(socketio?.p99Ms, 1),
    vs_ws: ratio(gateway, ws),
    vs_socketio: ratio(gateway, socketio),
    p99_vs_ws:
      gateway === undefined || ws === undefined ? null : fixed(gateway.p99Ms / ws.p99Ms, 2),
    p99_from_publish_ms: fixed(gateway?.p99FromPublishMs, 1),
    ws_p99_from_publish_ms: fixed(ws?.p99FromPublishMs, 1),
    received_fraction: fixed(gateway?.receivedFraction, 3),
    ws_received_fraction: fixed(ws?.receivedFraction, 3),
    socketio_received_fraction: fixed(socketio?.receivedFraction, 3),
    publish_lag_ms: fixed(gateway?.publishLagMs),
    ws_publish_lag_ms: fixed(ws?.publishLagMs),
    socketio_publish_lag_ms: fixed(socketio?.publishLagMs),
    late_messages: gateway?.late ?? null,
    ws_late_messages: ws?.late ?? null,
    socketio_late_messages: socketio?.late ?? null,
    cpu_us_per_message: fixed(gateway?.cpuUsPerMessage, 2),
    system_us_per_message: fixed(gateway?.systemUsPerMessage, 2),
    ws_cpu_us_per_message: fixed(ws?.cpuUsPerMessage, 2),
    ws_system_us_per_message: fixed(ws?.systemUsPerMessage, 2),
    bytes_per_connection: fixed(gateway?.bytesPerConnection),
    grpc_messages_per_s: fixed(grpc?.messagesPerS),
    grpc_p99_ms: fixed(grpc?.p99Ms, 1),
    grpc_vs_ws: ratio(grpc, ws),
    grpc_vs_socketio: ratio(grpc, socketio),
    grpc_cpu_us_per_message: fixed(grpc?.cpuUsPerMessage, 2),
    grpc_bytes_per_connection: fixed(grpc?.bytesPerConnection),
    connected: Object.fromEntries([...results].map(([kind, r]) => [kind, r.connected])),
    load_average: os.loadavg().map((l) => Number(l.toFixed(1))),
  }),
);
process.exit(0);
