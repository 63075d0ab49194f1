import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limit, newBook, ofType, seed, types } from './helpers.js';

describe('level changes', () => {
  test('are off by default', () => {
    const book = newBook();
    assert.deepEqual(types(book.place(limit('buy', 100, 1))), ['accepted', 'rested']);
  });

  test('report each changed level once, after the other events of the command', () => {
    const book = newBook({}, { emitLevelChanges: true });
    seed(book, [limit('sell', 101, 2), limit('sell', 101, 3), limit('sell', 102, 4)]);

    const events = book.place(limit('buy', 102, 7));

    assert.deepEqual(ofType(events, 'level'), [
      { type: 'level', side: 'sell', price: 101, quantity: 0 },
      { type: 'level', side: 'sell', price: 102, quantity: 2 },
    ]);
    assert.equal(events.at(-3)?.type, 'done');
    assert.deepEqual(events.at(-2), ofType(events, 'level')[0]);
  });

  test('report a new resting level', () => {
    const book = newBook({}, { emitLevelChanges: true });

    const events = book.place(limit('buy', 100, 5));

    assert.deepEqual(events.at(-1), { type: 'level', side: 'buy', price: 100, quantity: 5 });
  });

  test('report both levels of an amend that moves the price', () => {
    const book = newBook({}, { emitLevelChanges: true });
    const order = limit('buy', 100, 5);
    book.place(order);

    const events = book.amend({ orderId: order.orderId, price: 99 });

    assert.deepEqual(ofType(events, 'level'), [
      { type: 'level', side: 'buy', price: 100, quantity: 0 },
      { type: 'level', side: 'buy', price: 99, quantity: 5 },
    ]);
  });

  test('are not emitted for a rejected command or an unfilled FOK', () => {
    const book = newBook({}, { emitLevelChanges: true });
    seed(book, [limit('sell', 101, 1)]);

    assert.deepEqual(types(book.cancel({ orderId: 12345 })), ['rejected']);
    assert.deepEqual(types(book.place(limit('buy', 101, 2, { timeInForce: 'FOK' }))), [
      'accepted',
      'done',
    ]);
  });
});
