import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limit, newBook, ofType, rejection, seed, types } from './helpers.js';

describe('cancel', () => {
  test('removes the order and reports what was left open', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 3)]);
    const order = limit('buy', 100, 5);
    book.place(order); // fills 3, rests 2

    const events = book.cancel({ orderId: order.orderId });

    assert.deepEqual(events, [
      {
        type: 'done',
        orderId: order.orderId,
        ownerId: 1,
        reason: 'cancelled',
        filled: 3,
        remaining: 2,
      },
    ]);
    assert.deepEqual(book.snapshot(5), { bids: [], asks: [] });
    assert.equal(book.order(order.orderId), undefined);
  });

  test('of one order leaves the others of its level in their order', () => {
    const book = newBook();
    const [a, b, c] = [limit('buy', 100, 1), limit('buy', 100, 2), limit('buy', 100, 3)];
    seed(book, [a, b, c]);

    book.cancel({ orderId: b.orderId });

    assert.deepEqual(
      book.openOrders().map((order) => order.orderId),
      [a.orderId, c.orderId],
    );
    assert.deepEqual(book.snapshot(1).bids, [{ price: 100, quantity: 4 }]);
  });

  test('of an unknown order is rejected', () => {
    const event = rejection(newBook().cancel({ orderId: 42 }));

    assert.equal(event.command, 'cancel');
    assert.equal(event.code, 'unknown-order');
    assert.match(event.reason, /order 42 is not open on TEST-USD/);
  });

  test('of an order cancelled before is rejected', () => {
    const book = newBook();
    const order = limit('buy', 100, 1);
    book.place(order);
    book.cancel({ orderId: order.orderId });

    assert.equal(rejection(book.cancel({ orderId: order.orderId })).code, 'unknown-order');
  });
});

describe('amend', () => {
  test('of the quantity down keeps time priority', () => {
    const book = newBook();
    const first = limit('buy', 100, 5, { ownerId: 2 });
    const second = limit('buy', 100, 5, { ownerId: 3 });
    book.place(first);
    book.place(second);

    const events = book.amend({ orderId: first.orderId, quantity: 2 });

    assert.deepEqual(events, [
      {
        type: 'amended',
        orderId: first.orderId,
        price: 100,
        quantity: 2,
        remaining: 2,
        priorityKept: true,
        priority: 1,
      },
    ]);
    const [trade] = ofType(book.place(limit('sell', 100, 1)), 'trade');
    assert.equal(trade?.makerOrderId, first.orderId);
    assert.deepEqual(book.snapshot(1).bids, [{ price: 100, quantity: 6 }]);
  });

  test('of the quantity up loses time priority', () => {
    const book = newBook();
    const first = limit('buy', 100, 5, { ownerId: 2 });
    const second = limit('buy', 100, 5, { ownerId: 3 });
    book.place(first);
    book.place(second);

    const [amended] = book.amend({ orderId: first.orderId, quantity: 8 });

    assert.deepEqual(amended, {
      type: 'amended',
      orderId: first.orderId,
      price: 100,
      quantity: 8,
      remaining: 8,
      priorityKept: false,
      priority: 3,
    });
    const [trade] = ofType(book.place(limit('sell', 100, 1)), 'trade');
    assert.equal(trade?.makerOrderId, second.orderId);
    assert.deepEqual(book.snapshot(1).bids, [{ price: 100, quantity: 12 }]);
  });

  test('of the price loses time priority and moves the order to the new level', () => {
    const book = newBook();
    const moved = limit('buy', 99, 5, { ownerId: 2 });
    const waiting = limit('buy', 100, 5, { ownerId: 3 });
    book.place(moved);
    book.place(waiting);

    const events = book.amend({ orderId: moved.orderId, price: 100 });

    assert.deepEqual(types(events), ['amended']);
    assert.equal(ofType(events, 'amended')[0]?.priorityKept, false);
    assert.deepEqual(book.snapshot(5).bids, [{ price: 100, quantity: 10 }]);
    const [trade] = ofType(book.place(limit('sell', 100, 1)), 'trade');
    assert.equal(trade?.makerOrderId, waiting.orderId);
  });

  test('to a price that crosses the book trades like an incoming order, then rests the rest', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 2), limit('sell', 102, 2)]);
    const order = limit('buy', 100, 5);
    book.place(order);

    const events = book.amend({ orderId: order.orderId, price: 101 });

    assert.deepEqual(types(events), ['amended', 'trade', 'done']);
    assert.equal(ofType(events, 'trade')[0]?.takerOrderId, order.orderId);
    assert.deepEqual(book.snapshot(5), {
      bids: [{ price: 101, quantity: 3 }],
      asks: [{ price: 102, quantity: 2 }],
    });
  });

  test('to a price that crosses everything fills the order completely', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 2)]);
    const order = limit('buy', 100, 2);
    book.place(order);

    const events = book.amend({ orderId: order.orderId, price: 105 });

    assert.deepEqual(types(events), ['amended', 'trade', 'done', 'done']);
    assert.deepEqual(ofType(events, 'done')[1], {
      type: 'done',
      orderId: order.orderId,
      ownerId: 1,
      reason: 'filled',
      filled: 2,
      remaining: 0,
    });
    assert.equal(book.openOrderCount, 0);
  });

  test('counts fills in the quantity: total 10 with 4 filled leaves 6 open', () => {
    const book = newBook();
    const order = limit('sell', 100, 8);
    book.place(order);
    book.place(limit('buy', 100, 4, { ownerId: 2 }));

    const [amended] = book.amend({ orderId: order.orderId, quantity: 10 });

    assert.equal(amended?.type === 'amended' && amended.remaining, 6);
    assert.deepEqual(book.order(order.orderId), {
      orderId: order.orderId,
      ownerId: 1,
      side: 'sell',
      price: 100,
      quantity: 10,
      filled: 4,
      postOnly: false,
      priority: 2,
    });
  });

  test('to a quantity not above what is already filled is rejected', () => {
    const book = newBook();
    const order = limit('sell', 100, 8);
    book.place(order);
    book.place(limit('buy', 100, 4, { ownerId: 2 }));

    const event = rejection(book.amend({ orderId: order.orderId, quantity: 4 }));

    assert.equal(event.code, 'amend-below-filled');
    assert.match(event.reason, /must exceed the 4 already filled/);
  });

  test('of a filled order is rejected as unknown', () => {
    const book = newBook();
    const order = limit('sell', 100, 2);
    book.place(order);
    book.place(limit('buy', 100, 2, { ownerId: 2 }));

    const event = rejection(book.amend({ orderId: order.orderId, quantity: 1 }));

    assert.equal(event.command, 'amend');
    assert.equal(event.code, 'unknown-order');
  });

  test('that changes nothing is rejected', () => {
    const book = newBook();
    const order = limit('sell', 100, 2);
    book.place(order);

    assert.equal(rejection(book.amend({ orderId: order.orderId })).code, 'amend-no-change');
    assert.equal(
      rejection(book.amend({ orderId: order.orderId, price: 100, quantity: 2 })).code,
      'amend-no-change',
    );
  });

  test('follows the symbol rules for the new price and quantity', () => {
    const book = newBook({ tickSize: 5, lotSize: 2, maxQuantity: 10 });
    const order = limit('sell', 100, 2);
    book.place(order);

    assert.equal(rejection(book.amend({ orderId: order.orderId, price: 103 })).code, 'tick-size');
    assert.equal(rejection(book.amend({ orderId: order.orderId, quantity: 3 })).code, 'lot-size');
    assert.equal(
      rejection(book.amend({ orderId: order.orderId, quantity: 12 })).code,
      'quantity-above-max',
    );
  });

  test('of a post-only order to a price that would take is rejected and changes nothing', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 1)]);
    const order = limit('buy', 100, 1, { postOnly: true });
    book.place(order);
    const before = book.openOrders();

    const event = rejection(book.amend({ orderId: order.orderId, price: 101 }));

    assert.equal(event.code, 'post-only-would-take');
    assert.deepEqual(book.openOrders(), before);
  });
});
