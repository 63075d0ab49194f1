import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bookChecksum } from '../../../src/client/book-checksum.js';
import { ClientBook } from '../../../src/client/client-book.js';
import { bookChecksum as engineChecksum } from '../../../src/engine/index.js';

test("the client's checksum of docs/protocol.md's worked example is 3444974343", () => {
  const bids = [
    { price: 10050n, quantity: 5n },
    { price: 10040n, quantity: 12n },
  ];
  const asks = [
    { price: 10060n, quantity: 7n },
    { price: 10075n, quantity: 1n },
    { price: 10080n, quantity: 20n },
  ];
  assert.equal(bookChecksum(bids, asks), 3444974343);
  assert.equal(bookChecksum([], []), 0);
});

test("the client's copy of the checksum agrees with the engine's on any book", () => {
  const side = fc.uniqueArray(
    fc.record({
      price: fc.integer({ min: 1, max: 1e9 }),
      quantity: fc.integer({ min: 1, max: 1e6 }),
    }),
    { selector: (level) => level.price, maxLength: 15 },
  );
  fc.assert(
    fc.property(side, side, (bids, asks) => {
      const book = {
        bids: [...bids].sort((a, b) => b.price - a.price),
        asks: [...asks].sort((a, b) => a.price - b.price),
      };
      assert.equal(bookChecksum(book.bids, book.asks), engineChecksum(book));
    }),
  );
});

test('a client book applies deltas, removes levels at quantity 0 and proves itself', () => {
  const book = new ClientBook('BTC-USD');
  const level = (price: number, quantity: number) => ({
    price: BigInt(price),
    quantity: BigInt(quantity),
  });
  assert.ok(
    book.snapshot(
      1n,
      [level(100, 1)],
      [level(101, 2)],
      bookChecksum([level(100, 1)], [level(101, 2)]),
    ),
  );
  const after = { bids: [level(100, 1), level(99, 4)], asks: [] };
  assert.ok(book.delta(2n, [level(99, 4)], [level(101, 0)], bookChecksum(after.bids, after.asks)));
  assert.deepEqual(book.view().bids, after.bids);
  assert.deepEqual(book.view().asks, []);
  assert.equal(book.delta(3n, [level(98, 1)], [], 12345), false, 'a wrong checksum is caught');
});
