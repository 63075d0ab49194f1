/**
 * One server of `npm run bench:fanout`, in a process of its own so its CPU and memory are
 * measured apart from the clients: `ws` (bare WebSocket broadcast of the same bytes),
 * `socketio` (Socket.IO 4 broadcast of the same payload), or this platform's stream gateway
 * (seq, checksum, heartbeats and quality tracking) over native gRPC (`grpc`) or over its
 * WebSocket transport at /ws (`websocket`). Driven over IPC.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import Fastify from 'fastify';
import { toBinary, create } from '@bufbuild/protobuf';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { BookReplica } from '../../src/domain/streams/book-replica.js';
import {
  MarketDataService,
  SubscribeResponseSchema,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { SessionService } from '../../src/gen/trading/v1/session_pb.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { registration, startGrpcServer } from '../../src/transport/grpc/server.js';
import { registerWebSocket } from '../../src/transport/websocket/websocket-route.js';
import { WebSocketConnections } from '../../src/transport/websocket/websocket-connections.js';
import { websocketMetrics } from '../../src/transport/websocket/websocket.metrics.js';
import { marketDataRpc } from '../../src/transport/rpc/market-data.rpc.js';
import { sessionRpc } from '../../src/transport/rpc/session.rpc.js';
import { benchGateway } from './bench-gateway.js';

export type ServerKind = 'ws' | 'socketio' | 'grpc' | 'websocket';
export type ToServer = { cmd: 'rss' } | { cmd: 'run'; rate: number; durationS: number };
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'rss'; rss: number }
  | { type: 'done'; cpuUs: number; systemUs: number; due: number[]; published: number[] };

const SYMBOL = 'BTC-USD';
const STREAM = `book.${SYMBOL}`;
const now = () => performance.timeOrigin + performance.now();

/** The engine side: one level changing per update, with the checksum after it. */
class Deltas {
  readonly #book = new BookReplica({ seq: 0, bids: [], asks: [] });
  next(): { seq: number; payload: string } {
    const seq = this.#book.seq + 1;
    const levels = [
      {
        side: seq % 2 === 0 ? 'buy' : 'sell',
        price: 10_000 + (seq % 2 === 0 ? -(seq % 10) : seq % 10),
        quantity: 1 + (seq % 7),
      },
    ] as const;
    const checksum = this.#book.apply(seq, levels);
    return { seq, payload: JSON.stringify({ type: 'levels', levels, checksum }) };
  }
}

/** What the gateway would put on the wire for the same delta: the bytes ws and Socket.IO send. */
function wireBytes(seq: number, payload: string): Uint8Array {
  const delta = JSON.parse(payload) as {
    levels: { side: string; price: number; quantity: number }[];
    checksum: number;
  };
  const side = (s: string) =>
    delta.levels
      .filter((l) => l.side === s)
      .map((l) => ({ price: BigInt(l.price), quantity: BigInt(l.quantity) }));
  return toBinary(
    SubscribeResponseSchema,
    create(SubscribeResponseSchema, {
      stream: STREAM,
      epoch: 1n,
      seq: BigInt(seq),
      // A live entry carries no session id (docs/protocol.md): the gateway's bytes exactly.
      pod: 'bench',
      event: {
        case: 'delta',
        value: { symbol: SYMBOL, bids: side('buy'), asks: side('sell'), checksum: delta.checksum },
      },
    }),
  );
}

const send = (message: FromServer) => process.send?.(message);

/** With FANOUT_CPU_PROF_DIR set, a V8 CPU profile of the run, written there when stopped. */
function startProfiler(): { stop(name: string): Promise<void> } | undefined {
  const dir = process.env.FANOUT_CPU_PROF_DIR;
  if (dir === undefined) return undefined;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  return {
    stop: (name) =>
      new Promise((resolve, reject) => {
        session.post('Profiler.stop', (error, result) => {
          if (error !== null) {
            reject(error);
            return;
          }
          writeFileSync(
            join(dir, `${name}-${process.pid}.cpuprofile`),
            JSON.stringify(result.profile),
          );
          session.disconnect();
          resolve();
        });
      }),
  };
}

async function main(kind: ServerKind): Promise<void> {
  const deltas = new Deltas();
  let publish: (seq: number, payload: string) => void;
  let port: number;
  if (kind === 'ws') {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    port = (wss.address() as { port: number }).port;
    publish = (seq, payload) => {
      const bytes = wireBytes(seq, payload);
      for (const client of wss.clients) client.send(bytes);
    };
  } else if (kind === 'socketio') {
    const http = createServer();
    const io = new SocketIoServer(http, { transports: ['websocket'], perMessageDeflate: false });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as { port: number }).port;
    publish = (seq, payload) => {
      io.emit('d', Buffer.from(wireBytes(seq, payload)));
    };
  } else {
    const { log, logger, registry, replicas, gateway, calls } = benchGateway('bench', SYMBOL);
    if (kind === 'websocket') {
      const app = Fastify();
      await registerWebSocket(app, {
        calls,
        authenticate: () => Promise.reject(new Error('no private streams in this bench')),
        maxSubscriptions: 20,
        maxPayloadBytes: 64 * 1_024,
        frames: { ratePerSec: 100, burst: 100 },
        sendHighWaterBytes: 1 << 20,
        connections: new WebSocketConnections(1_000_000),
        metrics: websocketMetrics(registry),
        logger,
        now: Date.now,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      port = (app.server.address() as { port: number }).port;
    } else {
      const server = await startGrpcServer(
        {
          host: '127.0.0.1',
          port: 0,
          logger,
          registry,
          readiness: new Readiness(),
          tls: undefined,
        },
        [
          registration(MarketDataService, marketDataRpc({ calls, replicas, log })),
          registration(
            SessionService,
            sessionRpc({
              calls,
              gateway,
              verifyToken: () => Promise.reject(new Error('no private streams in this bench')),
            }),
          ),
        ],
      );
      port = server.port;
    }
    publish = (seq, payload) => {
      void log.append([{ stream: STREAM, seq, payload }]);
    };
  }
  process.on('message', (message: ToServer) => {
    if (message.cmd === 'rss') {
      send({ type: 'rss', rss: process.memoryUsage().rss });
      return;
    }
    // When each update was due (the offered schedule) and when the server got to publish it:
    // a server that falls behind publishes late, which latency measured from the publish
    // alone would hide (coordinated omission).
    const dueAt: number[] = [];
    const published: number[] = [];
    const total = Math.round(message.rate * message.durationS);
    const profiler = startProfiler();
    const cpu = process.cpuUsage();
    const started = now();
    const tick = () => {
      // Catch up with the schedule, so a slow tick does not lower the offered rate.
      const due = Math.min(total, Math.floor(((now() - started) / 1_000) * message.rate) + 1);
      while (published.length < due) {
        const { seq, payload } = deltas.next();
        dueAt.push(started + (published.length * 1_000) / message.rate);
        published.push(now());
        publish(seq, payload);
      }
      if (published.length < total)
        setTimeout(tick, Math.max(0, started + (published.length * 1_000) / message.rate - now()));
      else {
        // Let the last writes drain before the CPU is read.
        setTimeout(() => {
          const used = process.cpuUsage(cpu);
          void (profiler?.stop(kind) ?? Promise.resolve()).then(() => {
            send({
              type: 'done',
              cpuUs: used.user + used.system,
              systemUs: used.system,
              due: dueAt,
              published,
            });
          });
        }, 1_000);
      }
    };
    tick();
  });
  send({ type: 'ready', port });
}

await main((process.argv[2] ?? 'ws') as ServerKind);
