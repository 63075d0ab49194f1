import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { StreamEntry, StreamLog } from '../../src/domain/ports/stream-log.port.js';

export interface StreamLogHarness {
  /** A fresh, empty log keeping about `retention` entries per stream. */
  subject(options: { retention: number }): Promise<StreamLog>;
  teardown(): Promise<void>;
}

const entries = (stream: string, from: number, to: number): StreamEntry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    stream,
    seq: from + i,
    payload: JSON.stringify({ n: from + i }),
  }));

/** Waits for what a tail delivers asynchronously (the Redis reader), at most two seconds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for tailed entries');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function streamLogContract(name: string, harness: StreamLogHarness): void {
  describe(`StreamLog contract: ${name}`, () => {
    after(() => harness.teardown());

    test('reads back appended entries in seq order after a position', async () => {
      const log = await harness.subject({ retention: 100 });

      await log.append(entries('s', 1, 5));

      assert.deepEqual(await log.read('s', 2, 10), entries('s', 3, 5));
      assert.deepEqual(await log.read('s', 4, 10), entries('s', 5, 5));
      assert.deepEqual(await log.read('s', 5, 10), []);
      assert.equal(await log.lastSeq('s'), 5);
    });

    test('appending an entry again is a harmless no-op', async () => {
      const log = await harness.subject({ retention: 100 });
      await log.append(entries('s', 1, 3));

      const added = await log.append(entries('s', 2, 4));

      assert.equal(added, 1);
      assert.deepEqual(await log.read('s', 0, 10), entries('s', 1, 4));
    });

    test('keeps streams apart and answers 0 for an unknown stream', async () => {
      const log = await harness.subject({ retention: 100 });

      await log.append([...entries('a', 1, 2), ...entries('b', 1, 1)]);

      assert.equal(await log.lastSeq('a'), 2);
      assert.equal(await log.lastSeq('b'), 1);
      assert.equal(await log.lastSeq('none'), 0);
      assert.deepEqual(await log.read('none', 0, 10), []);
    });

    test('appends a large batch of interleaved streams in order', async () => {
      const log = await harness.subject({ retention: 1_000 });
      const batch = entries('x', 1, 300).flatMap((entry, i) => [
        entry,
        { ...entry, stream: 'y', payload: `{"y":${String(i)}}` },
      ]);

      assert.equal(await log.append(batch), 600);

      assert.deepEqual(await log.read('x', 0, 1_000), entries('x', 1, 300));
      assert.deepEqual(
        await log.read('y', 0, 1_000),
        batch.filter((entry) => entry.stream === 'y'),
      );
    });

    test('reads at most the limit', async () => {
      const log = await harness.subject({ retention: 100 });
      await log.append(entries('s', 1, 10));

      assert.deepEqual(await log.read('s', 0, 3), entries('s', 1, 3));
    });

    test('a tail gets every entry appended after it resolves, once and in seq order', async () => {
      const log = await harness.subject({ retention: 100 });
      await log.append(entries('s', 1, 3));
      const seen: number[] = [];

      const stop = await log.tail('s', (entry) => seen.push(entry.seq));
      await log.append(entries('s', 4, 6));
      await log.append(entries('s', 5, 9));
      await until(() => seen.at(-1) === 9);
      stop();

      assert.deepEqual(seen, [4, 5, 6, 7, 8, 9]);
    });

    test('every listener of a stream gets its entries, and only until it unsubscribes', async () => {
      const log = await harness.subject({ retention: 100 });
      const first: number[] = [];
      const second: number[] = [];
      const other: number[] = [];
      const stopFirst = await log.tail('s', (entry) => first.push(entry.seq));
      const stopSecond = await log.tail('s', (entry) => second.push(entry.seq));
      const stopOther = await log.tail('t', (entry) => other.push(entry.seq));

      await log.append(entries('s', 1, 2));
      await until(() => first.length === 2 && second.length === 2);
      stopFirst();
      await log.append([...entries('s', 3, 3), ...entries('t', 1, 1)]);
      await until(() => second.length === 3 && other.length === 1);
      stopSecond();
      stopOther();

      assert.deepEqual(first, [1, 2]);
      assert.deepEqual(second, [1, 2, 3]);
      assert.deepEqual(other, [1]);
    });

    test('a listener that throws does not stop the others', async () => {
      const log = await harness.subject({ retention: 100 });
      const seen: number[] = [];
      const stopThrowing = await log.tail('s', () => {
        throw new Error('listener bug');
      });
      const stop = await log.tail('s', (entry) => seen.push(entry.seq));

      assert.equal(await log.append(entries('s', 1, 2)), 2);
      await until(() => seen.length === 2);
      stopThrowing();
      stop();

      assert.deepEqual(seen, [1, 2]);
    });

    test('the epoch stays the same while the history lasts', async () => {
      const log = await harness.subject({ retention: 100 });

      const epoch = await log.epoch();
      await log.append(entries('s', 1, 2));

      assert.ok(epoch > 0);
      assert.equal(await log.epoch(), epoch);
    });

    test('trims old entries beyond the retention but keeps the newest', async () => {
      const log = await harness.subject({ retention: 10 });

      // In batches, as the relay does; Redis trims approximately (whole nodes) only.
      for (let from = 1; from <= 3_000; from += 500) {
        await log.append(entries('s', from, from + 499));
      }

      const kept = await log.read('s', 0, 5_000);
      assert.ok(kept.length >= 10 && kept.length < 3_000, `kept ${kept.length}`);
      assert.equal(kept.at(-1)?.seq, 3_000);
      assert.equal(await log.lastSeq('s'), 3_000);
    });
  });
}
