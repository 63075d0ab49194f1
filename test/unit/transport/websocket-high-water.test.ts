import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, toBinary } from '@bufbuild/protobuf';
import { MarketStream } from '../../../src/gen/trading/v1/market_data_pb.js';
import { ClientFrameSchema } from '../../../src/gen/trading/v1/websocket_pb.js';
import { FrameWire } from '../../../src/transport/websocket/frame-wire.js';
import { WebSocketConnection } from '../../../src/transport/websocket/websocket-connection.js';
import { websocketMetrics } from '../../../src/transport/websocket/websocket.metrics.js';
// The stream gateway of one pod on the in-process log, as the fan-out benchmarks build it.
import { benchGateway } from '../../../bench/support/bench-gateway.js';

test('a send high-water below the socket’s own mark does not spin the event loop', async () => {
  const { log, logger, registry, calls } = benchGateway('high-water', 'BTC-USD');
  // A socket as Node 22 makes them (64 KiB mark), soon holding 20 KiB the kernel has not
  // taken: under its own mark, so it asks for no 'drain', and none will come.
  const writes: Buffer[] = [];
  const raw = {
    write: (data: Buffer) => writes.push(data) > 0,
    writableLength: 0,
    writableNeedDrain: false,
    writableHighWaterMark: 65_536,
    once: () => raw,
    destroyed: false,
  };
  const socket = Object.assign(new EventEmitter(), { close: () => undefined });
  const wire = new FrameWire({ readyState: 1, extensions: '' }, raw as never);
  new WebSocketConnection(socket as never, wire, '127.0.0.1', {
    calls,
    authenticate: () => Promise.reject(new Error('no private streams here')),
    maxSubscriptions: 20,
    frames: { ratePerSec: 100, burst: 100 },
    sendHighWaterBytes: 16_384,
    metrics: websocketMetrics(registry),
    logger,
    now: Date.now,
  }).start(undefined);
  const subscribe = create(ClientFrameSchema, {
    requestId: 1,
    frame: { case: 'subscribe', value: { symbols: ['BTC-USD'], streams: [MarketStream.BOOK] } },
  });
  socket.emit('message', Buffer.from(toBinary(ClientFrameSchema, subscribe)), true);
  await sleep(50);
  const before = writes.length;
  raw.writableLength = 20_000;

  // The fan-out hands the entry over within the append; what it sent is flushed at once here.
  void log.append([{ stream: 'book.BTC-USD', seq: 1, payload: '{"type":"levels","levels":[]}' }]);
  wire.flush();
  const written = writes.length > before;
  // With the setting taken as the mark, the entry waits for a 'drain' that never comes, its
  // writer rescheduling itself on microtasks for ever: a 'drain' asked for ends that here.
  raw.writableNeedDrain = true;
  assert.ok(written, 'the entry was written: 20 KiB is under the socket’s own mark');
});
