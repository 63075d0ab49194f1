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
