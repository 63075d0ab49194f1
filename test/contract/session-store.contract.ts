import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { SessionRecord, SessionStore } from '../../src/domain/ports/session-store.port.js';

export interface SessionStoreHarness {
  /** A fresh, empty store. */
  subject(): Promise<SessionStore>;
  /** Lets `seconds` pass for the store (a fake clock, or real waiting). */
  advance(seconds: number): Promise<void>;
  teardown(): Promise<void>;
}

const record = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  id: 's-1',
  userId: 42,
  pod: 'pod-a',
  streams: ['orders.42'],
  updatedAtMs: 1_000,
  ...over,
});

export function sessionStoreContract(name: string, harness: SessionStoreHarness): void {
  describe(`SessionStore contract: ${name}`, () => {
    after(() => harness.teardown());

    test('reads back a stored session', async () => {
      const store = await harness.subject();

      await store.put(record(), 60);

      assert.deepEqual(await store.get('s-1'), record());
    });

    test('a public session has no user', async () => {
      const store = await harness.subject();

      await store.put(record({ userId: undefined, streams: ['book.BTC-USD'] }), 60);

      assert.equal((await store.get('s-1'))?.userId, undefined);
    });

    test('a put replaces the whole record (a new pod, new streams)', async () => {
      const store = await harness.subject();
      await store.put(record(), 60);

      await store.put(record({ pod: 'pod-b', streams: [] }), 60);

      assert.deepEqual(await store.get('s-1'), record({ pod: 'pod-b', streams: [] }));
    });

    test("a private session keeps its token's expiry", async () => {
      const store = await harness.subject();

      await store.put(record({ tokenExpiresAtMs: 1_900_000_000_000 }), 60);

      assert.equal((await store.get('s-1'))?.tokenExpiresAtMs, 1_900_000_000_000);
    });

    test('an unknown session is undefined', async () => {
      const store = await harness.subject();

      assert.equal(await store.get('nope'), undefined);
    });

    test('a session expires after its TTL', async () => {
      const store = await harness.subject();
      await store.put(record(), 1);

      await harness.advance(1.1);

      assert.equal(await store.get('s-1'), undefined);
    });
  });
}
