import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FanoutClient as Client, fanoutHarness as setUp, range } from './support/fanout-harness.js';

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
    const { counts, append, subscribe, countUntails } = setUp();
    const counted = countUntails();
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
    assert.equal(counted.untails, 1, 'the last to leave untails the stream');
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
