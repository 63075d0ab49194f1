import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryStreamLog } from '../../../src/adapters/stream-log/stream-log.memory.js';
import { DEFAULT_HEARTBEAT_SETTINGS } from '../../../src/domain/streams/heartbeat-tracker.js';
import { LiveFanout } from '../../../src/domain/streams/live-fanout.js';
import {
  StreamConnection,
  type GatewayDelivery,
} from '../../../src/domain/streams/stream-connection.js';
import type { StreamSnapshot } from '../../../src/domain/streams/stream-snapshot.js';
import { streamMetrics } from '../../../src/domain/streams/stream.metrics.js';
import { StreamSubscription } from '../../../src/domain/streams/stream-subscription.js';
import { createMetricsRegistry } from '../../../src/telemetry/index.js';
import { FakeTimers } from './support/fake-timers.js';
import { LogCapture } from '../../support/app.js';

const BOOK = 'book.T';
const LIMITS = { maxReplay: 1_000, pageSize: 100, maxBuffered: 1_000, snapshotWaitMs: 50 };

/**
 * A /ws-like writer over a real StreamConnection: writes at once while `accepting` (the socket
 * below its high water), otherwise the connection queues; `pump` takes what waits, in order,
 * as websocket-connection.ts does (frames collected, then written in one go).
 */
class Writer {
  accepting = true;
  readonly written: GatewayDelivery[] = [];
  constructor(readonly connection: StreamConnection) {
    connection.direct((delivery) => {
      if (!this.accepting) return false;
      this.written.push(delivery);
      return true;
    });
  }
  pump(): void {
    if (!this.accepting) return;
    const frames: GatewayDelivery[] = [];
    for (let d = this.connection.take(); d !== undefined; d = this.connection.take())
      frames.push(d);
    this.written.push(...frames);
  }
}

/** What the client sees of the book stream: a start, then contiguous seqs (plain or folded). */
function check(written: readonly GatewayDelivery[]): string | undefined {
  let last: number | undefined;
  for (const d of written) {
    if (d.kind === 'start') last = d.seq;
    else if (d.kind === 'entry' || d.kind === 'conflated') {
      const first = d.kind === 'entry' ? d.seq : d.firstSeq;
      if (last === undefined || first !== last + 1)
        return `${d.kind} ${first}..${d.seq} after ${last}`;
      last = d.seq;
    }
  }
  return undefined;
}

const levels = (n: number) =>
  JSON.stringify({ type: 'levels', levels: [{ side: 'buy', price: 100 + (n % 5), quantity: n }] });

describe('LiveFanout with a real StreamConnection', () => {
  test('refusals, queue pressure and conflation flushes never cost the client a seq or its order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 1, max: 4 }) }),
            fc.record({ op: fc.constant('accept' as const), on: fc.boolean() }),
            fc.record({ op: fc.constant('pump' as const) }),
            fc.record({ op: fc.constant('flush' as const) }),
            fc.record({ op: fc.constant('beat' as const) }),
            fc.record({ op: fc.constant('pong' as const) }),
          ),
          { minLength: 1, maxLength: 60 },
        ),
        async (steps) => {
          const log = new MemoryStreamLog({ epoch: 1 });
          const registry = createMetricsRegistry({ version: 'test', role: 'stream' });
          const metrics = streamMetrics(registry);
          const timers = new FakeTimers();
          let beats = 0;
          const fanout = new LiveFanout(log, () => undefined, metrics.tallies.live);
          const connection = new StreamConnection({
            sessionId: 's',
            transport: 'websocket',
            settings: {
              heartbeat: { ...DEFAULT_HEARTBEAT_SETTINGS, intervalMs: 1_000, idleTimeoutMs: 3_500 },
              maxMessages: 100_000,
              conflateBytes: 400,
              maxBytes: 1_000_000,
              conflateIntervalMs: 250,
            },
            metrics,
            logger: new LogCapture().logger('error'),
            now: () => 0,
            every: timers.every,
            nextHeartbeatId: () => (beats += 1),
          });
          const writer = new Writer(connection);
          connection.start();
          let head = 0;
          await StreamSubscription.open<StreamSnapshot>(
            {
              log,
              fanout,
              limits: LIMITS,
              sleep: () => Promise.resolve(),
              snapshot: async () => ({ seq: await log.lastSeq(BOOK), value: undefined }),
            },
            BOOK,
            undefined,
            {
              deliver: (d) => {
                connection.deliver(d);
              },
              fail: (error) => {
                throw error;
              },
              direct: connection,
            },
          );
          for (const step of steps) {
            if (step.op === 'append') {
              for (let i = 0; i < step.n; i++) {
                head += 1;
                void log.append([{ stream: BOOK, seq: head, payload: levels(head) }]);
              }
            } else if (step.op === 'accept') writer.accepting = step.on;
            else if (step.op === 'pump') writer.pump();
            else if (step.op === 'flush') timers.fire(250);
            else if (step.op === 'beat') timers.fire(1_000);
            else {
              // Answers the last heartbeat written, as a client on a good link would.
              const beat = writer.written.findLast((d) => d.kind === 'heartbeat');
              if (beat?.kind === 'heartbeat') connection.pong(beat.id);
            }
          }
          writer.accepting = true;
          writer.pump();
          timers.fire(250);
          writer.pump();
          assert.equal(check(writer.written), undefined, JSON.stringify(steps));
          const live = metrics.tallies.live;
          assert.equal(live.direct + live.queued, 1, 'one subscription, counted once');
        },
      ),
      { numRuns: 500 },
    );
  });
});
