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
import { BookReplica } from '../src/domain/streams/book-replica.js';
import { MarketStream } from '../src/gen/trading/v1/market_data_pb.js';
import { ClientFrameSchema } from '../src/gen/trading/v1/websocket_pb.js';
import { benchGateway } from './support/bench-gateway.js';
import { FrameWire } from '../src/transport/websocket/frame-wire.js';
import { WebSocketConnection } from '../src/transport/websocket/websocket-connection.js';
import { websocketMetrics } from '../src/transport/websocket/websocket.metrics.js';

const N = Number(process.argv[2] ?? 1000);
const ENTRIES = Number(process.argv[3] ?? 300);
const { log, logger, registry, calls } = benchGateway('micro', 'BTC-USD');
let written = 0;
let bytesWritten = 0;
const deps = {
  calls,
  authenticate: () => Promise.reject(new Error('no')),
  maxSubscriptions: 20,
  frames: { ratePerSec: 100, burst: 100 },
  sendHighWaterBytes: 1 << 20,
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
    writableHighWaterMark: 16_384,
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
