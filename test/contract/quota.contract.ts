import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { QuotaCounter } from '../../src/domain/ports/quota.port.js';

export interface QuotaSubject {
  readonly quota: QuotaCounter;
  readonly advance: (ms: number) => Promise<void>;
}

export interface QuotaHarness {
  setup(): Promise<void>;
  /** A fresh counter forgetting keys idle for `idleTtlMs` (0 = never). */
  subject(options: { idleTtlMs: number }): Promise<QuotaSubject>;
  teardown(): Promise<void>;
}

export function quotaContract(name: string, harness: QuotaHarness): void {
  describe(`QuotaCounter contract: ${name}`, () => {
    before(() => harness.setup());
    after(() => harness.teardown());

    test('acquires up to the limit, then refuses', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });

      const results = [
        await quota.acquire('u1', 2),
        await quota.acquire('u1', 2),
        await quota.acquire('u1', 2),
      ];

      assert.deepEqual(results, [
        { acquired: true, current: 1, remaining: 1 },
        { acquired: true, current: 2, remaining: 0 },
        { acquired: false, current: 2, remaining: 0 },
      ]);
    });

    test('a released unit can be acquired again', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('u1', 1);

      const afterRelease = await quota.release('u1');
      const again = await quota.acquire('u1', 1);

      assert.equal(afterRelease, 0);
      assert.equal(again.acquired, true);
    });

    test('release never goes below zero', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('u1', 5);

      const results = [await quota.release('u1'), await quota.release('u1')];

      assert.deepEqual(results, [0, 0]);
      assert.equal(await quota.current('u1'), 0);
    });

    test('current reports the units held, 0 for an unknown key', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('u1', 5);
      await quota.acquire('u1', 5);
      await quota.acquire('u1', 5);
      await quota.release('u1');

      assert.equal(await quota.current('u1'), 2);
      assert.equal(await quota.current('nobody'), 0);
    });

    test('keeps keys independent', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('alice', 1);

      const alice = await quota.acquire('alice', 1);
      const bob = await quota.acquire('bob', 1);

      assert.equal(alice.acquired, false);
      assert.equal(bob.acquired, true);
    });

    test('a limit of 0 never grants a unit', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });

      assert.deepEqual(await quota.acquire('u1', 0), { acquired: false, current: 0, remaining: 0 });
    });

    test('grants exactly the limit under concurrent acquires', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });

      const results = await Promise.all(Array.from({ length: 20 }, () => quota.acquire('u1', 5)));

      assert.equal(results.filter((r) => r.acquired).length, 5);
      assert.equal(await quota.current('u1'), 5);
    });

    test('forgets units of a key left idle longer than idleTtlMs', async () => {
      const { quota, advance } = await harness.subject({ idleTtlMs: 50 });
      await quota.acquire('u1', 1);

      await advance(80);

      assert.equal(await quota.current('u1'), 0);
      assert.equal((await quota.acquire('u1', 1)).acquired, true);
    });

    test('set overwrites the units held and resolves to the units held before', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('u1', 10);
      await quota.acquire('u1', 10);

      const before = [await quota.set('u1', 7), await quota.set('nobody', 3)];

      assert.deepEqual(before, [2, 0]);
      assert.equal(await quota.current('u1'), 7);
      assert.equal(await quota.current('nobody'), 3);
      assert.deepEqual(await quota.acquire('u1', 8), { acquired: true, current: 8, remaining: 0 });
      assert.equal(await quota.release('nobody'), 2);
    });

    test('set to 0 clears the key', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('u1', 5);

      assert.equal(await quota.set('u1', 0), 1);

      assert.equal(await quota.current('u1'), 0);
      assert.deepEqual(await quota.keys(''), []);
    });

    test('units set are forgotten after idleTtlMs like acquired ones', async () => {
      const { quota, advance } = await harness.subject({ idleTtlMs: 50 });
      await quota.set('u1', 4);

      await advance(80);

      assert.equal(await quota.current('u1'), 0);
    });

    test('rejects set to a count that is not a non-negative integer', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });

      await assert.rejects(quota.set('u1', -1), RangeError);
      await assert.rejects(quota.set('u1', 0.5), RangeError);
    });

    test('keys lists the keys holding units under a prefix, and only those', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      await quota.acquire('open:1', 5);
      await quota.acquire('open:1', 5);
      await quota.acquire('open:22', 5);
      await quota.acquire('open:3', 5);
      await quota.release('open:3');
      await quota.set('open:4', 9);
      await quota.acquire('other:1', 5);
      await quota.acquire('open*[x]?', 5);

      const keys = await quota.keys('open:');
      const literal = await quota.keys('open*[');

      assert.deepEqual(keys.sort(), ['open:1', 'open:22', 'open:4']);
      assert.deepEqual(literal, ['open*[x]?']);
      assert.deepEqual(await quota.keys('none:'), []);
      assert.equal((await quota.keys('')).length, 5);
    });

    test('keys walks many keys', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });
      // In chunks: 2,500 calls at once can outlast the 1 s call timeout on a busy machine,
      // and what is tested here is walking the keys, not a burst of writes.
      for (let chunk = 0; chunk < 2_500; chunk += 250) {
        await Promise.all(Array.from({ length: 250 }, (_, i) => quota.set(`many:${chunk + i}`, 1)));
      }

      const keys = await quota.keys('many:');

      assert.equal(keys.length, 2_500);
      assert.equal(new Set(keys).size, 2_500);
    });

    test('rejects a limit that is not a non-negative integer', async () => {
      const { quota } = await harness.subject({ idleTtlMs: 0 });

      await assert.rejects(quota.acquire('u1', -1), RangeError);
      await assert.rejects(quota.acquire('u1', 1.5), RangeError);
    });
  });
}
