/**
 * `node --import tsx bench/fanout-path.ts [subscribers] [entries]`: the CPU the gateway's /ws
 * path spends per delivered message, in one process with the sockets faked (no syscalls, no
 * client): N WebSocket connections subscribed to one book, then `entries` book deltas appended
 * to the in-process stream log, one per turn. Measures the code between the log and the socket
 * write (subscription, queue, gateway, frames), which bench:fanout cannot separate from the
 * kernel's part and the host's load. Last line JSON.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { MemorySessionStore } from '../src/adapters/streams/session-store.memory.js';
import { MemoryStreamLog } from '../src/adapters/stream-log/stream-log.memory.js';
import { BookReplica } from '../src/domain/streams/book-replica.js';
import { BookReplicas } from '../src/domain/streams/book-replicas.js';
import { ConnectionRegistry } from '../src/domain/streams/connection-registry.js';
import { DEFAULT_HEARTBEAT_SETTINGS } from '../src/domain/streams/heartbeat-tracker.js';
import { StreamGateway } from '../src/domain/streams/stream-gateway.js';
import { streamMetrics } from '../src/domain/streams/stream.metrics.js';
import { DEFAULT_SUBSCRIPTION_LIMITS } from '../src/domain/streams/stream-subscription.js';
import { MarketStream } from '../src/gen/trading/v1/market_data_pb.js';
import { ClientFrameSchema } from '../src/gen/trading/v1/websocket_pb.js';
import { createLogger, createMetricsRegistry } from '../src/telemetry/index.js';
import { StreamCalls } from '../src/transport/rpc/stream-calls.js';
import { FrameWire } from '../src/transport/websocket/frame-wire.js';
import { WebSocketConnection } from '../src/transport/websocket/websocket-connection.js';
import { websocketMetrics } from '../src/transport/websocket/websocket.metrics.js';

const N = Number(process.argv[2] ?? 1000);
const ENTRIES = Number(process.argv[3] ?? 300);
const log = new MemoryStreamLog({ epoch: 1 });
const logger = createLogger({ level: 'warn', base: { service: 'micro' } });
const registry = createMetricsRegistry({ version: 'm', role: 'stream' });
const metrics = streamMetrics(registry);
const snapshots = {
  book: () => Promise.resolve({ seq: 0, bids: [], asks: [] }),
  balances: () => Promise.resolve({ seq: 0, balances: [] }),
};
const limits = DEFAULT_SUBSCRIPTION_LIMITS;
const replicas = new BookReplicas({ log, snapshots, limits, sleep: (ms) => sleep(ms), logger });
const gateway = new StreamGateway({
  log,
  snapshots,
  replicas,
  sessions: new MemorySessionStore(),
  limits,
  connection: {
    heartbeat: DEFAULT_HEARTBEAT_SETTINGS,
    maxMessages: 4_096,
    conflateBytes: 256 * 1_024,
    maxBytes: 1_024 * 1_024,
    conflateIntervalMs: 1_000,
  },
  connections: new ConnectionRegistry(metrics),
  sessionTtlSeconds: 3_600,
  pod: 'bench',
  metrics,
  logger,
  sleep: (ms) => sleep(ms),
  now: Date.now,
});
const calls = new StreamCalls({ gateway, symbols: new Set(['BTC-USD']), maxSubscriptions: 20 });
let written = 0;
let bytesWritten = 0;
const deps = {
  calls,
  authenticate: () => Promise.reject(new Error('no')),
  maxSubscriptions: 20,
  frames: { ratePerSec: 100, burst: 100 },
  metrics: websocketMetrics(registry),
  logger,
  now: Date.now,
};
for (let i = 0; i < N; i++) {
  const socket = new EventEmitter() as EventEmitter & { close(): void };
  socket.close = () => undefined;
  const raw = {
    write: (b: Buffer) => {
      written++;
      bytesWritten += b.length;
      return true;
    },
    writableLength: 0,
    writableNeedDrain: false,
    once: () => raw,
    destroyed: false,
  };
  const wire = new FrameWire({ readyState: 1, extensions: '' } as never, raw as never);
  new WebSocketConnection(socket as never, wire, '127.0.0.1', deps).start(undefined);
  socket.emit(
    'message',
    Buffer.from(
      toBinary(
        ClientFrameSchema,
        create(ClientFrameSchema, {
          requestId: 1,
          frame: {
            case: 'subscribe',
            value: { symbols: ['BTC-USD'], streams: [MarketStream.BOOK] },
          },
        }),
      ),
    ),
    true,
  );
}
await sleep(500);
const book = new BookReplica({ seq: 0, bids: [], asks: [] });
let seq = 0;
const publish = () => {
  seq += 1;
  const levels = [
    { side: seq % 2 === 0 ? 'buy' : 'sell', price: 10_000 + (seq % 10), quantity: 1 + (seq % 7) },
  ] as const;
  const checksum = book.apply(seq, levels);
  void log.append([
    { stream: 'book.BTC-USD', seq, payload: JSON.stringify({ type: 'levels', levels, checksum }) },
  ]);
};
// warm up
for (let i = 0; i < 50; i++) {
  publish();
  await sleep(0);
}
written = 0;
bytesWritten = 0;
const cpu = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < ENTRIES; i++) {
  publish();
  await new Promise((r) => setImmediate(r));
}
const used = process.cpuUsage(cpu);
console.log(
  JSON.stringify({
    bench: 'fanout-path',
    subscribers: N,
    entries: ENTRIES,
    messages: written,
    cpu_us_per_message: Number(((used.user + used.system) / written).toFixed(3)),
    wall_ms: Math.round(performance.now() - t0),
    bytes_per_message: Number((bytesWritten / written).toFixed(1)),
  }),
);
process.exit(0);
