import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MatchingEngine, type OrderBook } from '../../../src/engine/index.js';
import {
  amendHold,
  reservationFor,
  reservePriceFor,
  type Market,
} from '../../../src/domain/orders/market.js';

const market: Market = {
  spec: { symbol: 'BTC-USD', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 100 },
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  quoteMinorPerTickLot: 1,
  baseMinorPerLot: 10,
};

/** A book with asks of 2 lots at 100 and 3 lots at 110. */
function bookWithAsks(): OrderBook {
  const engine = new MatchingEngine([market.spec], { selfTradePrevention: 'cancel-incoming' });
  let orderId = 1;
  for (const [price, quantity] of [
    [100, 2],
    [110, 3],
  ] as const) {
    engine.execute({
      kind: 'place',
      symbol: 'BTC-USD',
      orderId: orderId++,
      ownerId: 9,
      side: 'sell',
      type: 'limit',
      timeInForce: 'GTC',
      price,
      quantity,
      postOnly: false,
    });
  }
  const book = engine.book('BTC-USD');
  assert.ok(book !== undefined);
  return book;
}

describe('reservationFor', () => {
  test('a buy holds quote at its price, a sell holds base', () => {
    assert.deepEqual(reservationFor(market, 'buy', 100, 3), { asset: 'USD', amount: 300n });
    assert.deepEqual(reservationFor(market, 'sell', 100, 3), { asset: 'BTC', amount: 30n });
  });
});

describe('reservePriceFor', () => {
  test('a limit order reserves at its limit price', () => {
    const order = { side: 'buy', type: 'limit', price: 95, quantity: 4 } as const;

    assert.equal(reservePriceFor(bookWithAsks(), order), 95);
  });

  test('a market buy reserves at the deepest ask level it needs', () => {
    const book = bookWithAsks();

    assert.equal(
      reservePriceFor(book, { side: 'buy', type: 'market', price: 0, quantity: 2 }),
      100,
    );
    assert.equal(
      reservePriceFor(book, { side: 'buy', type: 'market', price: 0, quantity: 3 }),
      110,
    );
  });

  test('a market buy larger than the book reserves at its last level', () => {
    const order = { side: 'buy', type: 'market', price: 0, quantity: 50 } as const;

    assert.equal(reservePriceFor(bookWithAsks(), order), 110);
  });

  test('a market sell holds base, so its price is 0', () => {
    const order = { side: 'sell', type: 'market', price: 0, quantity: 2 } as const;

    assert.equal(reservePriceFor(bookWithAsks(), order), 0);
  });
});

describe('amendHold', () => {
  const resting = { side: 'buy', reservePrice: 100, quantity: 5, filled: 2 } as const;

  test('a higher price holds the difference on the open quantity', () => {
    assert.deepEqual(amendHold(market, resting, 120, 5), { asset: 'USD', amount: 60n });
  });

  test('a smaller quantity frees what it no longer needs (negative)', () => {
    assert.deepEqual(amendHold(market, resting, 100, 3), { asset: 'USD', amount: -200n });
  });

  test('a sell holds base, whatever the price', () => {
    const sell = { ...resting, side: 'sell' } as const;

    assert.deepEqual(amendHold(market, sell, 150, 7), { asset: 'BTC', amount: 20n });
  });
});
