import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OrderBook, type PlaceOrder, type SymbolSpec } from '../../../src/engine/index.js';
import { limit, market, newBook, rejection, seed } from './helpers.js';

const STRICT: Partial<SymbolSpec> = {
  symbol: 'ETH-USD',
  tickSize: 5,
  lotSize: 10,
  minQuantity: 20,
  maxQuantity: 500,
};

function rejectedPlace(order: PlaceOrder, spec: Partial<SymbolSpec> = STRICT) {
  const book = newBook(spec);
  const events = book.place(order);
  assert.equal(events.length, 1, 'a rejected order produces one event');
  assert.equal(book.openOrderCount, 0);
  return rejection(events);
}

describe('order validation', () => {
  const cases: [string, PlaceOrder, string, RegExp][] = [
    [
      'a price off the tick size',
      limit('buy', 1002, 20),
      'tick-size',
      /price 1002 is not a multiple of the tick size 5 of ETH-USD/,
    ],
    [
      'a quantity off the lot size',
      limit('buy', 1000, 25),
      'lot-size',
      /quantity 25 is not a multiple of the lot size 10/,
    ],
    [
      'a quantity below the minimum',
      limit('buy', 1000, 10),
      'quantity-below-min',
      /quantity 10 is below the minimum 20/,
    ],
    [
      'a quantity above the maximum',
      limit('buy', 1000, 510),
      'quantity-above-max',
      /quantity 510 is above the maximum 500/,
    ],
    ['a zero quantity', limit('buy', 1000, 0), 'invalid-quantity', /positive whole number/],
    ['a fractional quantity', limit('buy', 1000, 20.5), 'invalid-quantity', /got 20.5/],
    ['a negative price', limit('buy', -5, 20), 'invalid-price', /got -5/],
    ['a zero price', limit('buy', 0, 20), 'invalid-price', /positive whole number of ticks/],
    ['an unsafe price', limit('buy', 2 ** 53 + 5, 20), 'invalid-price', /ticks/],
    ['a NaN price', limit('buy', Number.NaN, 20), 'invalid-price', /got NaN/],
    ['a zero order id', limit('buy', 1000, 20, { orderId: 0 }), 'invalid-order-id', /got 0/],
    ['a fractional owner id', limit('buy', 1000, 20, { ownerId: 1.5 }), 'invalid-owner-id', /1.5/],
    [
      'an unknown side',
      limit('buy', 1000, 20, { side: 'hold' as PlaceOrder['side'] }),
      'invalid-side',
      /buy or sell, got hold/,
    ],
    [
      'an unknown order type',
      limit('buy', 1000, 20, { type: 'stop' as PlaceOrder['type'] }),
      'invalid-order-type',
      /limit or market/,
    ],
    [
      'an unknown time in force',
      limit('buy', 1000, 20, { timeInForce: 'GTD' as PlaceOrder['timeInForce'] }),
      'invalid-time-in-force',
      /GTC, IOC or FOK, got GTD/,
    ],
    [
      'a GTC market order',
      market('buy', 20, { timeInForce: 'GTC' }),
      'invalid-time-in-force',
      /market order cannot rest/,
    ],
    [
      'a post-only IOC',
      limit('buy', 1000, 20, { timeInForce: 'IOC', postOnly: true }),
      'invalid-post-only',
      /only allowed on GTC limit orders/,
    ],
    [
      'a post-only market order',
      market('buy', 20, { postOnly: true }),
      'invalid-post-only',
      /only allowed on GTC limit orders/,
    ],
  ];
  for (const [what, order, code, reason] of cases) {
    test(`rejects ${what} with code ${code} and a readable reason`, () => {
      const event = rejectedPlace(order);

      assert.equal(event.command, 'place');
      assert.equal(event.orderId, order.orderId);
      assert.equal(event.code, code);
      assert.match(event.reason, reason);
    });
  }

  test('accepts an order that meets every rule at the limits', () => {
    const book = newBook(STRICT);
    assert.equal(book.place(limit('buy', 5, 20)).at(-1)?.type, 'rested');
    assert.equal(book.place(limit('buy', 10, 500)).at(-1)?.type, 'rested');
  });

  test('ignores the price of a market order', () => {
    const book = newBook(STRICT);
    const events = book.place(market('buy', 20, { price: 1003 }));
    assert.deepEqual(
      events.map((event) => event.type),
      ['accepted', 'done'],
    );
  });

  test('rejects an order id that is already open on the book', () => {
    const book = newBook();
    const order = limit('buy', 100, 1);
    book.place(order);

    const event = rejection(book.place(limit('sell', 200, 1, { orderId: order.orderId })));

    assert.equal(event.code, 'duplicate-order-id');
    assert.match(event.reason, /already open/);
    assert.equal(book.openOrderCount, 1);
  });

  test('accepts an order id again once its order has left the book', () => {
    const book = newBook();
    const order = limit('buy', 100, 1);
    book.place(order);
    book.cancel({ orderId: order.orderId });

    assert.equal(book.place(order).at(-1)?.type, 'rested');
  });

  test('checks the quantity before the price, so one reason is given', () => {
    const event = rejectedPlace(limit('buy', 1002, 25));
    assert.equal(event.code, 'lot-size');
  });

  test('rejects a post-only order that would take against the best bid', () => {
    const book = newBook();
    seed(book, [limit('buy', 100, 1)]);

    const event = rejection(book.place(limit('sell', 99, 1, { postOnly: true })));

    assert.equal(event.code, 'post-only-would-take');
    assert.match(event.reason, /post-only sell at 99 would trade against the best bid 100/);
  });
});

describe('symbol spec', () => {
  const base: SymbolSpec = { symbol: 'X', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 1 };
  const invalid: [string, SymbolSpec][] = [
    ['an empty symbol', { ...base, symbol: '' }],
    ['a zero tick size', { ...base, tickSize: 0 }],
    ['a fractional lot size', { ...base, lotSize: 0.5 }],
    ['a minimum above the maximum', { ...base, minQuantity: 2 }],
    ['a band over 100 %', { ...base, priceBand: { maxDeviationBps: 10_001 } }],
    ['a negative band', { ...base, priceBand: { maxDeviationBps: -1 } }],
    ['a zero reference price', { ...base, priceBand: { maxDeviationBps: 1, referencePrice: 0 } }],
  ];
  for (const [what, spec] of invalid) {
    test(`with ${what} is refused when the book is built`, () => {
      assert.throws(() => new OrderBook(spec), RangeError);
    });
  }
});
