import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_HEARTBEAT_SETTINGS } from '../../../src/domain/streams/heartbeat-tracker.js';
import {
  StreamConnection,
  type Every,
  type GatewayDelivery,
} from '../../../src/domain/streams/stream-connection.js';
import { streamMetrics } from '../../../src/domain/streams/stream.metrics.js';
import { createMetricsRegistry } from '../../../src/telemetry/index.js';
import { LogCapture } from '../../support/app.js';

const BOOK = 'book.T';

const entry = (seq: number) =>
  ({
    kind: 'entry',
    stream: BOOK,
    epoch: 1,
    seq,
    recovered: false,
    entry: {
      stream: BOOK,
      seq,
      payload: JSON.stringify({
        type: 'levels',
        levels: [{ side: 'buy', price: 100 + seq, quantity: seq }],
      }),
    },
  }) as const;

describe('StreamConnection direct writes', () => {
  test('a conflated flush that a take sets off is not written ahead of what that take returned', () => {
    const timers = new Set<() => void>();
    const every: Every = (_ms, fn) => {
      timers.add(fn);
      return () => timers.delete(fn);
    };
    const connection = new StreamConnection({
      sessionId: 's',
      transport: 'websocket',
      settings: {
        heartbeat: { ...DEFAULT_HEARTBEAT_SETTINGS, intervalMs: 1_000, idleTimeoutMs: 3_500 },
        maxMessages: 1_000,
        conflateBytes: 150,
        maxBytes: 100_000,
        conflateIntervalMs: 250,
      },
      metrics: streamMetrics(createMetricsRegistry({ version: 'test', role: 'stream' })),
      logger: new LogCapture().logger('error'),
      now: () => 0,
      every,
      nextHeartbeatId: () => 1,
    });
    // A /ws writer: writes at once while the socket takes it; a backlog is taken in one go and
    // written after (websocket-connection.ts `pump`).
    let accepting = false;
    const written: GatewayDelivery[] = [];
    connection.direct((delivery) => {
      if (!accepting) return false;
      written.push(delivery);
      return true;
    });
    for (let seq = 1; seq <= 5; seq++) connection.deliver(entry(seq)); // past 150 bytes: conflating
    for (const flush of [...timers]) flush(); // seqs folded so far queued as one message
    connection.deliver(entry(6)); // folded, waiting for the next flush

    accepting = true;
    const frames: GatewayDelivery[] = [];
    for (let d = connection.take(); d !== undefined; d = connection.take()) frames.push(d);
    written.push(...frames);

    const firstSeqs = written.map((d) =>
      d.kind === 'conflated' ? d.firstSeq : d.kind === 'entry' ? d.seq : -1,
    );
    assert.deepEqual(
      firstSeqs,
      [...firstSeqs].sort((a, b) => a - b),
      JSON.stringify(firstSeqs),
    );
  });
});
