import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FanoutClient as Client,
  STREAM,
  fanoutHarness as setUp,
  range,
} from './support/fanout-harness.js';

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
    const { append, subscribe, counts, countUntails } = setUp();
    const counted = countUntails();
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
    assert.equal(counted.tails, 1, 'one log tail for the stream, whoever subscribes');
    assert.equal(counted.untails, 1);
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
