import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limit, newBook, ofType, types } from './helpers.js';

// Owner 1 rests at 100 between two other owners; owner 1 then buys 6.
function scenario(mode: 'cancel-resting' | 'cancel-incoming' | 'cancel-both') {
  const book = newBook({}, { selfTradePrevention: mode });
  const other = limit('sell', 100, 2, { ownerId: 2 });
  const own = limit('sell', 100, 2, { ownerId: 1 });
  const later = limit('sell', 100, 2, { ownerId: 3 });
  book.place(other);
  book.place(own);
  book.place(later);
  const taker = limit('buy', 100, 6, { ownerId: 1 });
  const events = book.place(taker);
  return { book, events, other, own, later, taker };
}

describe('self-trade prevention', () => {
  test('cancel-resting (the default) cancels the own resting order and keeps matching', () => {
    const { book, events, other, own, later, taker } = scenario('cancel-resting');

    assert.deepEqual(types(events), [
      'accepted',
      'trade',
      'done',
      'done',
      'trade',
      'done',
      'rested',
    ]);
    assert.deepEqual(
      ofType(events, 'trade').map((t) => t.makerOrderId),
      [other.orderId, later.orderId],
    );
    assert.deepEqual(ofType(events, 'done')[1], {
      type: 'done',
      orderId: own.orderId,
      ownerId: 1,
      reason: 'self-trade-prevented',
      filled: 0,
      remaining: 2,
    });
    assert.deepEqual(book.snapshot(5), { bids: [{ price: 100, quantity: 2 }], asks: [] });
    assert.equal(book.order(taker.orderId)?.filled, 4);
  });

  test('cancel-incoming stops the incoming order at its own resting order', () => {
    const { book, events, own, later, taker } = scenario('cancel-incoming');

    assert.deepEqual(types(events), ['accepted', 'trade', 'done', 'done']);
    assert.deepEqual(ofType(events, 'done')[1], {
      type: 'done',
      orderId: taker.orderId,
      ownerId: 1,
      reason: 'self-trade-prevented',
      filled: 2,
      remaining: 4,
    });
    assert.deepEqual(
      book.openOrders().map((order) => order.orderId),
      [own.orderId, later.orderId],
    );
  });

  test('cancel-both cancels the resting order and stops the incoming one', () => {
    const { book, events, other, own, later, taker } = scenario('cancel-both');

    assert.deepEqual(
      ofType(events, 'done').map((done) => [done.orderId, done.reason]),
      [
        [other.orderId, 'filled'],
        [own.orderId, 'self-trade-prevented'],
        [taker.orderId, 'self-trade-prevented'],
      ],
    );
    assert.deepEqual(
      book.openOrders().map((order) => order.orderId),
      [later.orderId],
    );
  });

  test('never lets an owner trade with itself, whatever the mode', () => {
    for (const mode of ['cancel-resting', 'cancel-incoming', 'cancel-both'] as const) {
      const { events } = scenario(mode);
      for (const trade of ofType(events, 'trade')) {
        assert.notEqual(trade.makerOwnerId, trade.takerOwnerId);
      }
    }
  });

  test('does not count own orders when checking that a FOK can fill', () => {
    const book = newBook();
    book.place(limit('sell', 100, 5, { ownerId: 1 }));
    book.place(limit('sell', 100, 1, { ownerId: 2 }));

    const events = book.place(limit('buy', 100, 3, { ownerId: 1, timeInForce: 'FOK' }));

    assert.deepEqual(types(events), ['accepted', 'done']);
    assert.equal(ofType(events, 'done')[0]?.reason, 'fok-unfilled');
    assert.equal(book.openOrderCount, 2, 'an unfilled FOK cancels nothing');
  });
});
