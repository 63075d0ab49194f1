import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { SessionRevocations } from '../../src/domain/ports/session-revocations.port.js';

export interface SessionRevocationsHarness {
  /** A fresh, empty store. */
  subject(): Promise<SessionRevocations>;
  teardown(): Promise<void>;
}

const FUTURE = Date.now() + 3_600_000;

export function sessionRevocationsContract(name: string, harness: SessionRevocationsHarness): void {
  describe(`SessionRevocations contract: ${name}`, () => {
    after(() => harness.teardown());

    test('an empty store has nothing since the start, and keeps the cursor', async () => {
      const store = await harness.subject();
      assert.deepEqual(await store.since('', 10), { revocations: [], cursor: '' });
    });

    test('revocations come back in order, once, after the cursor', async () => {
      const store = await harness.subject();
      await store.revoke({ sessionId: 's-1', untilMs: FUTURE });
      await store.revoke({ sessionId: 's-2', untilMs: FUTURE + 1 });

      const first = await store.since('', 10);
      assert.deepEqual(first.revocations, [
        { sessionId: 's-1', untilMs: FUTURE },
        { sessionId: 's-2', untilMs: FUTURE + 1 },
      ]);
      assert.deepEqual((await store.since(first.cursor, 10)).revocations, []);

      await store.revoke({ sessionId: 's-3', untilMs: FUTURE });
      const next = await store.since(first.cursor, 10);
      assert.deepEqual(next.revocations, [{ sessionId: 's-3', untilMs: FUTURE }]);
      assert.notEqual(next.cursor, first.cursor);
    });

    test('a batch holds at most `limit`, and the cursor continues from there', async () => {
      const store = await harness.subject();
      for (let i = 0; i < 5; i += 1) await store.revoke({ sessionId: `s-${i}`, untilMs: FUTURE });
      const a = await store.since('', 2);
      const b = await store.since(a.cursor, 2);
      const c = await store.since(b.cursor, 2);
      assert.deepEqual(
        [...a.revocations, ...b.revocations, ...c.revocations].map((r) => r.sessionId),
        ['s-0', 's-1', 's-2', 's-3', 's-4'],
      );
    });

    test('two handles on one store see each other', async () => {
      const store = await harness.subject();
      const cursor = (await store.since('', 100)).cursor;
      await store.revoke({ sessionId: 'shared', untilMs: FUTURE });
      assert.deepEqual((await store.since(cursor, 100)).revocations, [
        { sessionId: 'shared', untilMs: FUTURE },
      ]);
    });
  });
}
