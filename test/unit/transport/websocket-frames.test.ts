import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeReasonText } from '../../../src/transport/websocket/close-codes.js';
import { FrameBudget } from '../../../src/transport/websocket/frame-budget.js';

test('a frame budget allows its burst at once, then its rate', () => {
  let now = 0;
  const budget = new FrameBudget({ ratePerSec: 10, burst: 3 }, () => now);
  assert.deepEqual(
    [budget.take(), budget.take(), budget.take(), budget.take()],
    [true, true, true, false],
  );
  now = 100; // one token back at 10/s
  assert.deepEqual([budget.take(), budget.take()], [true, false]);
  now = 10_000; // never more than the burst
  assert.equal([1, 2, 3, 4].filter(() => budget.take()).length, 3);
});

test('a close reason is cut to the 123 bytes a close frame holds, on a character boundary', () => {
  assert.equal(closeReasonText('short'), 'short');
  const cut = closeReasonText('é'.repeat(100));
  assert.ok(Buffer.byteLength(cut) <= 123);
  assert.ok(cut.endsWith('…'));
  assert.ok(!cut.includes('\uFFFD'));
});
