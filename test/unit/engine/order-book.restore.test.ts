import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OrderBook, type OpenOrder } from '../../../src/engine/index.js';
import { SPEC, limit, newBook, seed } from './helpers.js';

function busyBook(): OrderBook {
  const book = newBook({}, { emitLevelChanges: true });
  seed(book, [
    limit('buy', 99, 3),
    limit('buy', 100, 2),
    limit('buy', 100, 4),
    limit('sell', 102, 5),
    limit('sell', 101, 1),
  ]);
  book.place(limit('sell', 100, 3, { ownerId: 50 })); // trades, moves the last price
  return book;
}

describe('restore', () => {
  test('rebuilds the same book, open orders and state from open orders and state', () => {
    const original = busyBook();

    const restored = OrderBook.restore(
      SPEC,
      { emitLevelChanges: true },
      original.openOrders(),
      original.state(),
    );

    assert.deepEqual(restored.snapshot(100), original.snapshot(100));
    assert.deepEqual(restored.openOrders(), original.openOrders());
    assert.deepEqual(restored.state(), original.state());
    assert.equal(restored.checksum(), original.checksum());
  });

  test('replays later commands byte for byte like the original book', () => {
    const original = busyBook();
    const restored = OrderBook.restore(
      SPEC,
      { emitLevelChanges: true },
      original.openOrders(),
      original.state(),
    );
    const next = [
      limit('sell', 99, 10, { orderId: 1 }),
      limit('buy', 102, 2, { orderId: 2 }),
      limit('buy', 98, 2, { orderId: 3 }),
    ];

    const replayed = JSON.stringify(next.map((order) => restored.place(order)));
    const expected = JSON.stringify(next.map((order) => original.place(order)));

    assert.equal(replayed, expected);
  });

  test('takes the open orders in any order and queues each level by priority', () => {
    const original = busyBook();

    const shuffled = [...original.openOrders()].reverse();
    const restored = OrderBook.restore(SPEC, {}, shuffled, original.state());

    assert.deepEqual(restored.openOrders(), original.openOrders());
  });

  const order: OpenOrder = {
    orderId: 1,
    ownerId: 1,
    side: 'buy',
    price: 100,
    quantity: 5,
    filled: 0,
    postOnly: false,
    priority: 1,
  };
  const state = { nextTradeId: 1, nextPriority: 10, lastTradePrice: 0 };
  const corrupt: [string, OpenOrder[], typeof state][] = [
    ['duplicate order ids', [order, { ...order, priority: 2 }], state],
    ['duplicate priorities', [order, { ...order, orderId: 2 }], state],
    ['a priority not below nextPriority', [{ ...order, priority: 10 }], state],
    ['an order already filled', [{ ...order, filled: 5 }], state],
    [
      'a crossed book',
      [order, { ...order, orderId: 2, side: 'sell', price: 99, priority: 2 }],
      state,
    ],
    ['a bad trade counter', [order], { ...state, nextTradeId: 0 }],
  ];
  for (const [what, orders, bookState] of corrupt) {
    test(`refuses ${what}`, () => {
      assert.throws(() => OrderBook.restore(SPEC, {}, orders, bookState), RangeError);
    });
  }
});
