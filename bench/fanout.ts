/**
 * `npm run bench:fanout -- --clients N --rate R --duration S`: the same N subscribers and the
 * same publish rate (R book updates/s, each to every subscriber) against a bare `ws`
 * broadcaster, Socket.IO 4 and this gateway (over native gRPC and over WebSocket at /ws, each
 * with its full protocol), one after the other in one run.
 * Each server runs in a process of its own; the clients run here. Prints per server delivered
 * messages/s, p99 publish-to-receipt latency, server CPU per delivered message and memory per
 * connection; the last line is JSON.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
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

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
  },
});
const clients = Number(values.clients);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const now = () => performance.timeOrigin + performance.now();

interface Result {
  kind: ServerKind;
  connected: number;
  connectS: number;
  delivered: number;
  messagesPerS: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerMessage: number;
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
              receipts.add(Number(message.seq));
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
            receipts.add(Number(message.seq));
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
    const done = (await request(child, { cmd: 'run', rate, durationS }, 'done')) as {
      cpuUs: number;
      published: number[];
    };
    close();
    const latencies = new Float64Array(receipts.count);
    for (let i = 0; i < receipts.count; i++) {
      const published = done.published[(receipts.seqs[i] ?? 1) - 1] ?? NaN;
      latencies[i] = (receipts.times[i] ?? NaN) - published;
    }
    latencies.sort();
    return {
      kind,
      connected,
      connectS,
      delivered: receipts.count,
      messagesPerS: receipts.count / durationS,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      cpuUsPerMessage: done.cpuUs / Math.max(1, receipts.count),
      bytesPerConnection: (afterConnect.rss - before.rss) / Math.max(1, connected),
    };
  } finally {
    child.kill('SIGKILL');
  }
}

const results: Result[] = [];
for (const kind of ['ws', 'socketio', 'grpc', 'websocket'] as const) {
  const result = await run(kind);
  results.push(result);
  console.log(
    `${kind.padEnd(9)} connected ${result.connected}/${clients} in ${result.connectS.toFixed(1)} s; ` +
      `${Math.round(result.messagesPerS)} msg/s delivered (offered ${clients * rate}); ` +
      `p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms; ` +
      `server CPU ${result.cpuUsPerMessage.toFixed(2)} µs/msg; ` +
      `${(result.bytesPerConnection / 1_024).toFixed(1)} KiB/connection`,
  );
}
const [ws, socketio, grpc, gateway] = results as [Result, Result, Result, Result];
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
    messages_per_s: Math.round(gateway.messagesPerS),
    p99_ms: Number(gateway.p99Ms.toFixed(1)),
    ws_messages_per_s: Math.round(ws.messagesPerS),
    ws_p99_ms: Number(ws.p99Ms.toFixed(1)),
    socketio_messages_per_s: Math.round(socketio.messagesPerS),
    socketio_p99_ms: Number(socketio.p99Ms.toFixed(1)),
    vs_ws: Number((gateway.messagesPerS / ws.messagesPerS).toFixed(2)),
    vs_socketio: Number((gateway.messagesPerS / socketio.messagesPerS).toFixed(2)),
    cpu_us_per_message: Number(gateway.cpuUsPerMessage.toFixed(2)),
    bytes_per_connection: Math.round(gateway.bytesPerConnection),
    grpc_messages_per_s: Math.round(grpc.messagesPerS),
    grpc_p99_ms: Number(grpc.p99Ms.toFixed(1)),
    grpc_vs_ws: Number((grpc.messagesPerS / ws.messagesPerS).toFixed(2)),
    grpc_vs_socketio: Number((grpc.messagesPerS / socketio.messagesPerS).toFixed(2)),
    grpc_cpu_us_per_message: Number(grpc.cpuUsPerMessage.toFixed(2)),
    grpc_bytes_per_connection: Math.round(grpc.bytesPerConnection),
  }),
);
process.exit(0);
