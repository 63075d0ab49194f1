import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limit, market, newBook, ofType, seed, types } from './helpers.js';

describe('limit orders', () => {
  test('rest on an empty book and become the best price', () => {
    const book = newBook();
    const order = limit('buy', 100, 5);

    const events = book.place(order);

    assert.deepEqual(events, [
      {
        type: 'accepted',
        orderId: order.orderId,
        ownerId: 1,
        side: 'buy',
        orderType: 'limit',
        timeInForce: 'GTC',
        price: 100,
        quantity: 5,
        postOnly: false,
      },
      {
        type: 'rested',
        orderId: order.orderId,
        side: 'buy',
        price: 100,
        remaining: 5,
        priority: 1,
      },
    ]);
    assert.equal(book.bestBid(), 100);
    assert.equal(book.bestAsk(), undefined);
    assert.deepEqual(book.snapshot(5), { bids: [{ price: 100, quantity: 5 }], asks: [] });
  });

  test('that do not cross rest on their side without trading', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 5)]);

    const events = book.place(limit('buy', 100, 5));

    assert.deepEqual(types(events), ['accepted', 'rested']);
    assert.deepEqual(book.snapshot(5), {
      bids: [{ price: 100, quantity: 5 }],
      asks: [{ price: 101, quantity: 5 }],
    });
  });

  test('fill exactly against one resting order and leave both sides empty', () => {
    const book = newBook();
    const maker = limit('sell', 100, 5, { ownerId: 2 });
    book.place(maker);
    const taker = limit('buy', 100, 5);

    const events = book.place(taker);

    assert.deepEqual(events.slice(1), [
      {
        type: 'trade',
        tradeId: 1,
        price: 100,
        quantity: 5,
        takerSide: 'buy',
        makerOrderId: maker.orderId,
        makerOwnerId: 2,
        makerRemaining: 0,
        takerOrderId: taker.orderId,
        takerOwnerId: 1,
        takerRemaining: 0,
      },
      {
        type: 'done',
        orderId: maker.orderId,
        ownerId: 2,
        reason: 'filled',
        filled: 5,
        remaining: 0,
      },
      {
        type: 'done',
        orderId: taker.orderId,
        ownerId: 1,
        reason: 'filled',
        filled: 5,
        remaining: 0,
      },
    ]);
    assert.deepEqual(book.snapshot(5), { bids: [], asks: [] });
    assert.equal(book.openOrderCount, 0);
  });

  test('partially fill a larger resting order, which keeps its place with the rest', () => {
    const book = newBook();
    const maker = limit('sell', 100, 10, { ownerId: 2 });
    const behind = limit('sell', 100, 4, { ownerId: 3 });
    book.place(maker);
    book.place(behind);

    const [trade] = ofType(book.place(limit('buy', 100, 3)), 'trade');

    assert.equal(trade?.makerOrderId, maker.orderId);
    assert.equal(trade.makerRemaining, 7);
    assert.deepEqual(book.snapshot(1).asks, [{ price: 100, quantity: 11 }]);
    assert.equal(book.openOrders()[0]?.orderId, maker.orderId);
  });

  test('rest their remainder after a partial fill', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 3)]);
    const taker = limit('buy', 101, 10);

    const events = book.place(taker);

    assert.deepEqual(types(events), ['accepted', 'trade', 'done', 'rested']);
    assert.deepEqual(ofType(events, 'rested')[0], {
      type: 'rested',
      orderId: taker.orderId,
      side: 'buy',
      price: 101,
      remaining: 7,
      priority: 2,
    });
    assert.deepEqual(book.snapshot(5), { bids: [{ price: 101, quantity: 7 }], asks: [] });
  });

  test('sweep many levels best price first, each at the maker price, up to their limit', () => {
    const book = newBook();
    seed(book, [
      limit('sell', 103, 1),
      limit('sell', 101, 2),
      limit('sell', 102, 3),
      limit('sell', 105, 4),
    ]);

    const events = book.place(limit('buy', 103, 10));

    assert.deepEqual(
      ofType(events, 'trade').map((t) => [t.price, t.quantity, t.takerRemaining]),
      [
        [101, 2, 8],
        [102, 3, 5],
        [103, 1, 4],
      ],
    );
    assert.deepEqual(book.snapshot(5), {
      bids: [{ price: 103, quantity: 4 }],
      asks: [{ price: 105, quantity: 4 }],
    });
  });

  test('trade with earlier orders of a level first (FIFO)', () => {
    const book = newBook();
    const first = limit('buy', 100, 2, { ownerId: 2 });
    const second = limit('buy', 100, 2, { ownerId: 3 });
    const third = limit('buy', 100, 2, { ownerId: 4 });
    book.place(first);
    book.place(second);
    book.place(third);

    const events = book.place(limit('sell', 99, 5));

    assert.deepEqual(
      ofType(events, 'trade').map((t) => [t.makerOrderId, t.quantity]),
      [
        [first.orderId, 2],
        [second.orderId, 2],
        [third.orderId, 1],
      ],
    );
  });

  test('give each trade the next trade id of the book', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 1), limit('sell', 100, 1), limit('sell', 100, 1)]);

    const first = ofType(book.place(limit('buy', 100, 2)), 'trade');
    const second = ofType(book.place(limit('buy', 100, 1)), 'trade');

    assert.deepEqual(
      [...first, ...second].map((t) => t.tradeId),
      [1, 2, 3],
    );
    assert.equal(book.state().nextTradeId, 4);
  });
});

describe('market orders', () => {
  test('expire at once on an empty book', () => {
    const book = newBook();
    const order = market('buy', 5);

    const events = book.place(order);

    assert.deepEqual(types(events), ['accepted', 'done']);
    assert.deepEqual(ofType(events, 'done')[0], {
      type: 'done',
      orderId: order.orderId,
      ownerId: 1,
      reason: 'ioc-expired',
      filled: 0,
      remaining: 5,
    });
    assert.equal(ofType(events, 'accepted')[0]?.price, 0);
  });

  test('sweep the book at any price and expire the unfilled rest', () => {
    const book = newBook();
    seed(book, [limit('buy', 100, 2), limit('buy', 50, 2), limit('buy', 1, 2)]);

    const events = book.place(market('sell', 10));

    assert.deepEqual(
      ofType(events, 'trade').map((t) => t.price),
      [100, 50, 1],
    );
    assert.deepEqual(ofType(events, 'done').at(-1)?.reason, 'ioc-expired');
    assert.deepEqual(ofType(events, 'done').at(-1)?.remaining, 4);
    assert.equal(book.bestBid(), undefined);
  });

  test('with FOK fill completely or not at all', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 2), limit('sell', 101, 2)]);

    const unfilled = book.place(market('buy', 5, { timeInForce: 'FOK' }));
    const filled = book.place(market('buy', 4, { timeInForce: 'FOK' }));

    assert.deepEqual(types(unfilled), ['accepted', 'done']);
    assert.equal(ofType(unfilled, 'done')[0]?.reason, 'fok-unfilled');
    assert.equal(ofType(filled, 'trade').length, 2);
    assert.equal(ofType(filled, 'done').at(-1)?.reason, 'filled');
  });
});

describe('time in force', () => {
  test('IOC trades what it can and expires the rest instead of resting', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 3)]);
    const order = limit('buy', 100, 5, { timeInForce: 'IOC' });

    const events = book.place(order);

    assert.deepEqual(types(events), ['accepted', 'trade', 'done', 'done']);
    assert.deepEqual(ofType(events, 'done')[1], {
      type: 'done',
      orderId: order.orderId,
      ownerId: 1,
      reason: 'ioc-expired',
      filled: 3,
      remaining: 2,
    });
    assert.equal(book.bestBid(), undefined);
  });

  test('FOK fills across levels when the whole quantity is available within its limit', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 3), limit('sell', 101, 3), limit('sell', 102, 3)]);

    const events = book.place(limit('buy', 101, 6, { timeInForce: 'FOK' }));

    assert.equal(ofType(events, 'trade').length, 2);
    assert.equal(ofType(events, 'done').at(-1)?.reason, 'filled');
    assert.deepEqual(book.snapshot(5).asks, [{ price: 102, quantity: 3 }]);
  });

  test('FOK that cannot fill leaves no trace: no trade, book and counters unchanged', () => {
    const book = newBook();
    seed(book, [limit('sell', 100, 3), limit('sell', 101, 3), limit('sell', 102, 3)]);
    const before = { snapshot: book.snapshot(10), orders: book.openOrders(), state: book.state() };
    const order = limit('buy', 101, 7, { timeInForce: 'FOK' });

    const events = book.place(order);

    assert.deepEqual(types(events), ['accepted', 'done']);
    assert.deepEqual(ofType(events, 'done')[0], {
      type: 'done',
      orderId: order.orderId,
      ownerId: 1,
      reason: 'fok-unfilled',
      filled: 0,
      remaining: 7,
    });
    assert.deepEqual(
      { snapshot: book.snapshot(10), orders: book.openOrders(), state: book.state() },
      before,
    );
  });

  test('FOK on an empty book is unfilled', () => {
    const events = newBook().place(limit('sell', 100, 1, { timeInForce: 'FOK' }));
    assert.equal(ofType(events, 'done')[0]?.reason, 'fok-unfilled');
  });
});

describe('post-only orders', () => {
  test('rest when they would not take liquidity', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 1)]);

    const events = book.place(limit('buy', 100, 1, { postOnly: true }));

    assert.deepEqual(types(events), ['accepted', 'rested']);
  });

  test('are rejected, with the touch in the reason, when they would take', () => {
    const book = newBook();
    seed(book, [limit('sell', 101, 1)]);
    const before = book.snapshot(5);

    const events = book.place(limit('buy', 101, 1, { postOnly: true }));

    assert.equal(events.length, 1);
    assert.deepEqual(ofType(events, 'rejected')[0]?.code, 'post-only-would-take');
    assert.match(ofType(events, 'rejected')[0]?.reason ?? '', /best ask 101/);
    assert.deepEqual(book.snapshot(5), before);
  });
});

describe('an empty book', () => {
  test('has no best prices, no levels, no open orders and checksum 0', () => {
    const book = newBook();

    assert.equal(book.bestBid(), undefined);
    assert.equal(book.bestAsk(), undefined);
    assert.deepEqual(book.snapshot(10), { bids: [], asks: [] });
    assert.deepEqual(book.openOrders(), []);
    assert.equal(book.checksum(), 0);
  });

  test('snapshots only as many levels as asked for, best first', () => {
    const book = newBook();
    seed(book, [limit('buy', 98, 1), limit('buy', 100, 1), limit('buy', 99, 1)]);
    seed(book, [limit('sell', 103, 1), limit('sell', 101, 1), limit('sell', 102, 1)]);

    assert.deepEqual(book.snapshot(2), {
      bids: [
        { price: 100, quantity: 1 },
        { price: 99, quantity: 1 },
      ],
      asks: [
        { price: 101, quantity: 1 },
        { price: 102, quantity: 1 },
      ],
    });
  });
});
