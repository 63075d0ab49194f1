import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { bandBounds, bandDeviation } from '../../../src/engine/index.js';
import { limit, market, newBook, ofType, rejection, seed, types } from './helpers.js';

const BAND = { priceBand: { maxDeviationBps: 500, referencePrice: 1_000 } }; // 950..1050

describe('price band', () => {
  test('accepts limit prices on its edges', () => {
    const book = newBook(BAND);

    assert.equal(book.place(limit('buy', 950, 1)).at(-1)?.type, 'rested');
    assert.equal(book.place(limit('sell', 1050, 1)).at(-1)?.type, 'rested');
  });

  test('rejects a limit price outside it and says where the band is', () => {
    const book = newBook(BAND);

    const event = rejection(book.place(limit('buy', 1051, 1)));

    assert.equal(event.code, 'price-out-of-band');
    assert.match(
      event.reason,
      /outside the band 950\.\.1050 .*500 bps around the reference price 1000/,
    );
    assert.equal(rejection(book.place(limit('sell', 949, 1))).code, 'price-out-of-band');
  });

  test('follows the last trade price once the book has traded', () => {
    const book = newBook(BAND);
    seed(book, [limit('sell', 1040, 1)]);
    book.place(limit('buy', 1040, 1)); // last trade 1040: band 988..1092

    assert.equal(book.state().lastTradePrice, 1040);
    assert.equal(book.place(limit('sell', 1092, 1)).at(-1)?.type, 'rested');
    assert.equal(rejection(book.place(limit('buy', 987, 1))).code, 'price-out-of-band');
  });

  test('stops a market order at its edge instead of sweeping a thin book', () => {
    const book = newBook(BAND);
    seed(book, [limit('sell', 1050, 1), limit('buy', 960, 1), limit('sell', 960, 1)]);
    // The trade at 960 moved the band to 912..1008, leaving the ask at 1050 outside it.
    seed(book, [limit('sell', 1000, 1)]);

    const events = book.place(market('buy', 5));

    assert.deepEqual(
      ofType(events, 'trade').map((t) => t.price),
      [1000],
    );
    assert.equal(ofType(events, 'done').at(-1)?.reason, 'ioc-expired');
    assert.equal(ofType(events, 'done').at(-1)?.remaining, 4);
    assert.equal(book.bestAsk(), 1050);
  });

  test('applies to the new price of an amend', () => {
    const book = newBook(BAND);
    const order = limit('buy', 1000, 1);
    book.place(order);

    assert.equal(
      rejection(book.amend({ orderId: order.orderId, price: 900 })).code,
      'price-out-of-band',
    );
  });

  test('does not apply before the first trade when no reference price is configured', () => {
    const book = newBook({ priceBand: { maxDeviationBps: 100 } });

    assert.deepEqual(types(book.place(limit('buy', 1, 1))), ['accepted', 'rested']);
    assert.deepEqual(types(book.place(limit('sell', 1_000_000, 1))), ['accepted', 'rested']);
  });
});

describe('band deviation', () => {
  test('is floor(reference * bps / 10000)', () => {
    assert.equal(bandDeviation(1_000, 500), 50);
    assert.equal(bandDeviation(1_999, 1), 0);
    assert.equal(bandDeviation(20_000, 1), 2);
    assert.deepEqual(bandBounds(12_345, 250), { low: 12_037, high: 12_653 });
  });

  test('is exact for every safe reference price, where the plain product would overflow', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 10_000 }),
        (reference, bps) => {
          const exact = (BigInt(reference) * BigInt(bps)) / 10_000n;
          assert.equal(BigInt(bandDeviation(reference, bps)), exact);
        },
      ),
    );
  });
});
