import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStreamLog } from '../../../src/adapters/stream-log/stream-log.memory.js';
import { LiveFanout } from '../../../src/domain/streams/live-fanout.js';
import {
  StreamSubscription,
  type Delivery,
  type DirectSink,
  type EntryDelivery,
} from '../../../src/domain/streams/stream-subscription.js';

const STREAM = 'book.T';
const LIMITS = { maxReplay: 1_000, pageSize: 100, maxBuffered: 1_000, snapshotWaitMs: 50 };

/** A client connection as the fast path sees it; `onOffer` runs before each offer is answered. */
class Client implements DirectSink {
  open = true;
  readonly seqs: number[] = [];
  onOffer: ((delivery: EntryDelivery) => void) | undefined;

  get ready(): boolean {
    return this.open;
  }

  offer(delivery: EntryDelivery): boolean {
    this.onOffer?.(delivery);
    if (!this.open) return false;
    this.seqs.push(delivery.seq);
    return true;
  }

  readonly sink = {
    deliver: (delivery: Delivery<number>) => {
      if (delivery.kind === 'entry') this.seqs.push(delivery.seq);
    },
    fail: () => undefined,
    direct: this,
  };
}

function setUp() {
  const log = new MemoryStreamLog({ epoch: 1 });
  const counts = { direct: 0, queued: 0 };
  const fanout = new LiveFanout(log, () => undefined, counts);
  let head = 0;
  const append = (n = 1) => {
    for (let i = 0; i < n; i++) {
      head += 1;
      void log.append([{ stream: STREAM, seq: head, payload: `{"n":${head}}` }]);
    }
  };
  const subscribe = async (client: Client) =>
    StreamSubscription.open<number>(
      {
        log,
        fanout,
        limits: LIMITS,
        sleep: () => Promise.resolve(),
        snapshot: async () => ({ seq: await log.lastSeq(STREAM), value: 0 }),
      },
      STREAM,
      undefined,
      client.sink,
    );
  return { log, counts, append, subscribe, head: () => head };
}

const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('LiveFanout isolation', () => {
  test('a connection whose offer throws does not cost the other subscribers a seq or repeat one', async () => {
    const { append, subscribe, head } = setUp();
    const [refusing, steady, broken, last] = [
      new Client(),
      new Client(),
      new Client(),
      new Client(),
    ];
    for (const client of [refusing, steady, broken, last]) await subscribe(client);
    append(2); // all four on the fast path, in this order

    refusing.open = false; // demoted at the next entry...
    broken.onOffer = () => {
      broken.onOffer = undefined;
      throw new Error('transport bug');
    }; // ...in the same pass as this throw
    append(1);
    refusing.open = true;
    append(4);

    for (const client of [refusing, steady, last]) {
      assert.deepEqual(client.seqs, range(1, head()), 'every seq once, in order');
    }
  });

  test('a member that leaves while the pass demotes it is not put back (counts, untail)', async () => {
    const { log, counts, append, subscribe } = setUp();
    let untails = 0;
    const tail = log.tail.bind(log);
    log.tail = async (stream, listener) => {
      const untail = await tail(stream, listener);
      return () => {
        untails += 1;
        untail();
      };
    };
    const [x, y] = [new Client(), new Client()];
    const subX = await subscribe(x);
    const subY = await subscribe(y);
    append(2); // both fast, x first

    x.open = false; // x refused: on the pass's demoted list
    y.onOffer = () => {
      y.onOffer = undefined;
      subX.close(); // a write that ends another subscription of the stream
    };
    append(1);

    assert.deepEqual(counts, { direct: 1, queued: 0 }, 'y fast, x gone');
    subY.close();
    assert.deepEqual(counts, { direct: 0, queued: 0 });
    assert.equal(untails, 1, 'the last to leave untails the stream');
  });

  test('a first tail that fails leaves no member behind, and the next subscription tails again', async () => {
    const { log, counts, append, subscribe } = setUp();
    const tail = log.tail.bind(log);
    let failNext = true;
    log.tail = async (stream, listener) => {
      if (failNext) {
        failNext = false;
        throw new Error('log unreachable');
      }
      return tail(stream, listener);
    };
    const [a, b] = [new Client(), new Client()];
    const opening = [subscribe(a), subscribe(b)];
    const results = await Promise.allSettled(opening);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.deepEqual(counts, { direct: 0, queued: 0 });

    const c = new Client();
    await subscribe(c);
    append(3);
    assert.deepEqual(c.seqs, range(1, 3));
  });

  test('a log whose tail throws at once leaves no lane that never tails behind', async () => {
    const { log, append, subscribe } = setUp();
    const tail = log.tail.bind(log);
    let failNext = true;
    log.tail = (stream, listener) => {
      if (failNext) {
        failNext = false;
        throw new Error('log unreachable');
      }
      return tail(stream, listener);
    };
    await assert.rejects(subscribe(new Client()));

    const c = new Client();
    await subscribe(c);
    append(3);
    assert.deepEqual(c.seqs, range(1, 3), 'the next subscription tails the log');
  });
});
