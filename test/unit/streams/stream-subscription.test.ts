import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  StreamSubscription,
  type Delivery,
  type StreamPosition,
  type SubscriptionLimits,
} from '../../../src/domain/streams/stream-subscription.js';
import { ScriptedLog } from './support/scripted-log.js';

const STREAM = 'book.T';
const LIMITS: SubscriptionLimits = {
  maxReplay: 100,
  pageSize: 7,
  maxBuffered: 1_000,
  snapshotWaitMs: 50,
};

/** The snapshot is the seq itself: a state the test can check against the log. */
function subscribe(log: ScriptedLog, position?: Partial<StreamPosition>, limits = LIMITS) {
  const deliveries: Delivery<number>[] = [];
  const failures: unknown[] = [];
  const opened = StreamSubscription.open<number>(
    {
      log,
      snapshot: () => Promise.resolve({ seq: log.head, value: log.head }),
      limits,
      sleep: () => Promise.resolve(),
    },
    STREAM,
    position === undefined ? undefined : { stream: STREAM, epoch: 7, seq: 0, ...position },
    {
      deliver: (delivery) => deliveries.push(delivery),
      fail: (error) => failures.push(error),
    },
  );
  return { opened, deliveries, failures };
}

type Start = Extract<Delivery<number>, { kind: 'start' }>;
const starts = (deliveries: Delivery<number>[]) =>
  deliveries.filter((d): d is Start => d.kind === 'start');
const seqs = (deliveries: Delivery<number>[]) =>
  deliveries.filter((d) => d.kind === 'entry').map((d) => d.seq);
const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('StreamSubscription', () => {
  test('a new subscriber gets a snapshot at the head, then the live entries', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(5);
    const { opened, deliveries } = subscribe(log);
    await opened;

    log.grow(2);
    log.flush();

    const [start] = starts(deliveries);
    assert.ok(start);
    assert.equal(start.recovered, false);
    assert.equal(start.reason, 'new');
    assert.equal(start.seq, 5);
    assert.equal(start.snapshot, 5);
    assert.deepEqual(seqs(deliveries), [6, 7]);
  });

  test('a resume replays every entry after the position, then goes live: recovered', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(20);
    const { opened, deliveries } = subscribe(log, { seq: 12 });
    await opened;

    log.grow(1);
    log.flush();

    const [start] = starts(deliveries);
    assert.ok(start);
    assert.equal(start.recovered, true);
    assert.equal(start.seq, 12);
    assert.equal(start.snapshot, undefined);
    assert.deepEqual(seqs(deliveries), range(13, 21));
    assert.ok(deliveries.every((d) => d.recovered));
  });

  test('a resume from the head recovers with nothing to replay', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(4);
    const { opened, deliveries } = subscribe(log, { seq: 4 });
    await opened;

    assert.deepEqual(
      deliveries.map((d) => [d.kind, d.seq, d.recovered]),
      [['start', 4, true]],
    );
  });

  test('a client that has seen nothing yet (seq 0) recovers the whole history', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(3);
    const { opened, deliveries } = subscribe(log, { seq: 0, epoch: 0 });
    await opened;

    assert.equal(starts(deliveries)[0]?.recovered, true);
    assert.deepEqual(seqs(deliveries), [1, 2, 3]);
  });

  test('a client that has seen nothing yet recovers on an empty stream too', async () => {
    const log = new ScriptedLog(STREAM);
    const { opened, deliveries } = subscribe(log, { seq: 0 });
    await opened;

    log.grow(1);
    log.flush();

    assert.equal(starts(deliveries)[0]?.recovered, true);
    assert.deepEqual(seqs(deliveries), [1]);
  });

  for (const [name, setUp, position, reason] of [
    [
      'older than the retained history',
      (log: ScriptedLog) => {
        log.retention = 10;
        log.grow(30);
      },
      { seq: 5 },
      'trimmed',
    ],
    [
      'from another epoch',
      (log: ScriptedLog) => {
        log.grow(30);
      },
      { seq: 25, epoch: 6 },
      'epoch',
    ],
    [
      'ahead of the log',
      (log: ScriptedLog) => {
        log.grow(30);
      },
      { seq: 31 },
      'ahead',
    ],
    [
      'further back than the replay maximum',
      (log: ScriptedLog) => {
        log.grow(300);
      },
      { seq: 199 },
      'too_long',
    ],
  ] as const) {
    test(`a position ${name} gets a fresh snapshot, not recovered, and no partial replay`, async () => {
      const log = new ScriptedLog(STREAM);
      setUp(log);
      const { opened, deliveries } = subscribe(log, position);
      await opened;

      assert.deepEqual(
        deliveries.map((d) => [d.kind, d.seq, d.recovered]),
        [['start', log.head, false]],
      );
      const [start] = starts(deliveries);
      assert.ok(start);
      assert.equal(start.reason, reason);
      assert.equal(start.snapshot, log.head);
    });
  }

  test('a resume exactly at the replay maximum still recovers', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(300);
    const { opened, deliveries } = subscribe(log, { seq: 200 });
    await opened;

    assert.equal(starts(deliveries)[0]?.recovered, true);
    assert.deepEqual(seqs(deliveries), range(201, 300));
  });

  test('reads the history in pages of at most the page size', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(50);
    const limits: number[] = [];
    const read = log.read.bind(log);
    log.read = (stream, after, limit) => {
      limits.push(limit);
      return read(stream, after, limit);
    };
    const { opened, deliveries } = subscribe(log, { seq: 10 });
    await opened;

    assert.ok(limits.every((limit) => limit <= LIMITS.pageSize));
    assert.deepEqual(seqs(deliveries), range(11, 50));
  });

  test('a live entry that goes missing restarts the stream from a fresh snapshot', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(5);
    const { opened, deliveries } = subscribe(log);
    await opened;

    log.grow(1);
    log.flush();
    // Entry 7 is trimmed before the reader gets to it.
    log.grow(1);
    log.entries.splice(
      log.entries.findIndex((e) => e.seq === 7),
      1,
    );
    log.grow(1);
    log.flush();
    await new Promise((resolve) => setImmediate(resolve));

    assert.deepEqual(
      deliveries.map((d) => [d.kind, d.seq, d.recovered]),
      [
        ['start', 5, false],
        ['entry', 6, false],
        ['start', 8, false],
      ],
    );
    assert.equal(starts(deliveries)[1]?.reason, 'gap');
  });

  test('a snapshot the log does not reach in time fails the subscription', async () => {
    const log = new ScriptedLog(STREAM);
    log.grow(3);
    const deliveries: Delivery<number>[] = [];
    const opening = StreamSubscription.open<number>(
      {
        log,
        snapshot: () => Promise.resolve({ seq: 9, value: 9 }),
        limits: LIMITS,
        sleep: () => Promise.resolve(),
      },
      STREAM,
      undefined,
      { deliver: (d) => deliveries.push(d), fail: () => undefined },
    );

    await assert.rejects(opening, { code: 'unavailable' });
    assert.deepEqual(deliveries, []);
  });

  test('property: any interleaving of appends, history reads and live delivery yields every seq once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          initial: fc.nat(60),
          position: fc.option(fc.nat(70), { nil: undefined }),
          earlyStart: fc.nat(5),
          pageSize: fc.integer({ min: 1, max: 10 }),
          // Per log call: how many entries the relay appends, how many the reader delivers.
          script: fc.array(fc.tuple(fc.nat(4), fc.nat(6)), { maxLength: 40 }),
          after: fc.nat(20),
        }),
        async ({ initial, position, earlyStart, pageSize, script, after }) => {
          const log = new ScriptedLog(STREAM);
          log.earlyStart = earlyStart;
          log.grow(initial);
          let step = 0;
          log.beforeEach = () => {
            const [appended, delivered] = script[step++ % script.length] ?? [0, 0];
            log.grow(appended);
            log.flush(delivered);
          };
          const { opened, deliveries } = subscribe(
            log,
            position === undefined ? undefined : { seq: position },
            { ...LIMITS, pageSize },
          );
          await opened;
          log.beforeEach = () => undefined;
          log.grow(after);
          log.flush();

          const [start, ...rest] = deliveries;
          if (start?.kind !== 'start') throw new Error('the first delivery must be the start');
          assert.ok(rest.every((d) => d.kind === 'entry'));
          // Everything after the start, each seq once, in order, up to the head.
          assert.deepEqual(seqs(rest), range(start.seq + 1, log.head));
          // A position the log had before subscribing resumes; one it never reached cannot.
          if (position !== undefined && position <= initial) {
            assert.equal(start.recovered, true);
            assert.equal(start.seq, position);
          }
          if (position === undefined || position > log.head) assert.equal(start.recovered, false);
        },
      ),
      { numRuns: 300, seed: 17 },
    );
  });
});
