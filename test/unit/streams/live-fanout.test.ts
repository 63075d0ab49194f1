import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryStreamLog } from '../../../src/adapters/stream-log/stream-log.memory.js';
import type { StreamEntry } from '../../../src/domain/ports/stream-log.port.js';
import { LiveFanout } from '../../../src/domain/streams/live-fanout.js';
import {
  StreamSubscription,
  type Delivery,
  type DirectSink,
  type EntryDelivery,
} from '../../../src/domain/streams/stream-subscription.js';

const STREAM = 'book.T';
const LIMITS = { maxReplay: 1_000, pageSize: 100, maxBuffered: 1_000, snapshotWaitMs: 50 };

/** A client connection as the fast path sees it: takes entries at once while `open`. */
class Client implements DirectSink {
  open = true;
  /** Every entry seq the client got, whichever path brought it, in order (`deliver` queues). */
  readonly seqs: number[] = [];
  readonly starts: Delivery<number>[] = [];
  readonly offered: EntryDelivery[] = [];
  readonly failures: unknown[] = [];

  get ready(): boolean {
    return this.open;
  }

  offer(delivery: EntryDelivery): boolean {
    if (!this.open) return false;
    this.offered.push(delivery);
    this.seqs.push(delivery.seq);
    return true;
  }

  readonly sink = {
    deliver: (delivery: Delivery<number>) => {
      if (delivery.kind === 'start') this.starts.push(delivery);
      else this.seqs.push(delivery.seq);
    },
    fail: (error: unknown) => {
      this.failures.push(error);
    },
    direct: this,
  };
}

function setUp() {
  const log = new MemoryStreamLog({ epoch: 1 });
  const failed: unknown[] = [];
  const counts = { direct: 0, queued: 0 };
  const fanout = new LiveFanout(log, (error) => failed.push(error), counts);
  let head = 0;
  const append = (n = 1) => {
    const entries: StreamEntry[] = [];
    for (let i = 0; i < n; i++) {
      head += 1;
      entries.push({ stream: STREAM, seq: head, payload: `{"n":${head}}` });
    }
    void log.append(entries);
  };
  /** Appends `seq` itself, skipping whatever lies between (an entry the tail never saw). */
  const appendAt = (seq: number) => {
    head = seq;
    void log.append([{ stream: STREAM, seq, payload: `{"n":${seq}}` }]);
  };
  const subscribe = async (client: Client) =>
    StreamSubscription.open<number>(
      {
        log,
        fanout,
        limits: LIMITS,
        sleep: () => Promise.resolve(),
        snapshot: async () => {
          const seq = await log.lastSeq(STREAM);
          return { seq, value: seq };
        },
      },
      STREAM,
      undefined,
      client.sink,
    );
  return { log, fanout, failed, counts, append, appendAt, subscribe, head: () => head };
}

const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('LiveFanout', () => {
  test('caught-up subscribers get each entry through their connection, one delivery shared by all', async () => {
    const { append, subscribe } = setUp();
    append(3);
    const [a, b] = [new Client(), new Client()];
    await subscribe(a);
    await subscribe(b);

    append(5);

    for (const client of [a, b]) {
      assert.equal(client.starts[0]?.kind === 'start' && client.starts[0].seq, 3);
      assert.deepEqual(client.seqs, range(4, 8));
    }
    // The first live entry goes the subscription's own way (it then finds its client ready);
    // from the next one on the fast path hands both clients the same object per entry.
    assert.deepEqual(
      a.offered.map((d) => d.seq),
      range(5, 8),
    );
    a.offered.forEach((delivery, i) => {
      assert.equal(delivery, b.offered[i]);
      assert.equal(delivery.stream, STREAM);
      assert.equal(delivery.epoch, 1);
    });
  });

  test('a connection that cannot take an entry gets it, and what follows, its own way, then goes fast again', async () => {
    const { append, subscribe, counts } = setUp();
    const client = new Client();
    await subscribe(client);
    assert.deepEqual(counts, { direct: 0, queued: 1 });
    append(3);
    assert.deepEqual(counts, { direct: 1, queued: 0 });

    client.open = false;
    append(3);
    assert.deepEqual(counts, { direct: 0, queued: 1 });
    client.open = true;
    append(3);
    assert.deepEqual(counts, { direct: 1, queued: 0 });

    assert.deepEqual(client.seqs, range(1, 9), 'every seq once, in order, whichever path');
    assert.deepEqual(
      client.offered.map((d) => d.seq),
      [2, 3, 8, 9],
      'fast again from the entry after the one its own path delivered',
    );
  });

  test('an entry missing from the tail while fast starts the subscription over, as on its own path', async () => {
    const { append, appendAt, subscribe } = setUp();
    const client = new Client();
    await subscribe(client);
    append(3);
    assert.ok(client.offered.length > 0, 'on the fast path');

    appendAt(5); // seq 4 never reached the tail
    await new Promise((resolve) => setImmediate(resolve));

    const restart = client.starts.at(-1);
    assert.equal(client.starts.length, 2);
    assert.ok(restart?.kind === 'start');
    assert.equal(restart.reason, 'gap');
    assert.equal(restart.seq, 5, 'a fresh start at the head, not a silent skip of seq 4');
    assert.deepEqual(client.seqs, range(1, 3));
  });

  test('a closed subscription gets nothing more, and the last one to leave untails the stream', async () => {
    const { log, append, subscribe, counts } = setUp();
    let tails = 0;
    let untails = 0;
    const tail = log.tail.bind(log);
    log.tail = async (stream, listener) => {
      tails += 1;
      const untail = await tail(stream, listener);
      return () => {
        untails += 1;
        untail();
      };
    };
    const [a, b] = [new Client(), new Client()];
    const subA = await subscribe(a);
    const subB = await subscribe(b);
    append(3);

    subA.close();
    append(2);
    subB.close();
    append(2);

    assert.deepEqual(a.seqs, range(1, 3));
    assert.deepEqual(b.seqs, range(1, 5));
    assert.equal(tails, 1, 'one log tail for the stream, whoever subscribes');
    assert.equal(untails, 1);
    assert.deepEqual(counts, { direct: 0, queued: 0 });
  });

  test('a subscription that throws on an entry is reported; the others still get it', async () => {
    const { append, subscribe, failed } = setUp();
    const [bad, good] = [new Client(), new Client()];
    bad.sink.deliver = (delivery) => {
      if (delivery.kind === 'entry') throw new Error('broken sink');
    };
    bad.open = false;
    await subscribe(bad);
    await subscribe(good);

    append(3);

    assert.deepEqual(good.seqs, range(1, 3));
    assert.ok(failed.length > 0);
  });

  test('whatever the connections do, every client gets every seq once, in order, or starts over', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            client: fc.nat(2),
            open: fc.boolean(),
            append: fc.integer({ min: 0, max: 4 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (steps) => {
          const { append, subscribe, head } = setUp();
          const clients = [new Client(), new Client(), new Client()];
          for (const client of clients) await subscribe(client);
          for (const step of steps) {
            const client = clients[step.client];
            assert.ok(client);
            client.open = step.open;
            append(step.append);
          }
          for (const client of clients) {
            assert.deepEqual(client.seqs, range(1, head()), 'every seq once, in order');
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
