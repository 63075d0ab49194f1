import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BalanceLedger, balanceKey } from '../../../src/domain/orders/balance-ledger.js';
import type { Market } from '../../../src/domain/orders/market.js';

/** 1 tick × 1 lot = 1 cent; 1 lot = 10 base minor units. */
const market: Market = {
  spec: { symbol: 'BTC-USD', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 100 },
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  quoteMinorPerTickLot: 1,
  baseMinorPerLot: 10,
};

const BUYER = 1;
const SELLER = 2;

/** A ledger over the locked rows of a buyer and a seller. */
function ledger() {
  const available = new Map([
    [balanceKey(BUYER, 'USD'), 1_000n],
    [balanceKey(SELLER, 'BTC'), 100n],
  ]);
  return { available, ledger: new BalanceLedger(available) };
}

describe('BalanceLedger', () => {
  test('lets a user hold up to what it has available', () => {
    const { ledger: book } = ledger();

    assert.equal(book.shortfall(BUYER, { asset: 'USD', amount: 1_000n }), undefined);
  });

  test('refuses a hold above what is available, naming both amounts with units', () => {
    const { ledger: book } = ledger();

    const short = book.shortfall(BUYER, { asset: 'USD', amount: 1_001n });

    assert.equal(short?.code, 'failed_precondition');
    assert.equal(
      short.message,
      'insufficient USD: the order needs 10.01 USD (1001 cents) available, you have 10.00 USD (1000 cents)',
    );
  });

  test('counts a balance it did not lock as empty', () => {
    const { ledger: book } = ledger();

    assert.equal(book.shortfall(SELLER, { asset: 'USD', amount: 1n })?.code, 'failed_precondition');
    assert.equal(book.shortfall(SELLER, { asset: 'USD', amount: 0n }), undefined);
  });

  test('a hold that frees balance (negative) needs nothing available', () => {
    const { ledger: book } = ledger();

    assert.equal(book.shortfall(SELLER, { asset: 'USD', amount: -50n }), undefined);
  });

  test('reserving moves available to reserved, and later checks see what is left', () => {
    const { ledger: book, available } = ledger();

    book.reserve(BUYER, { asset: 'USD', amount: 600n });

    assert.deepEqual(book.deltas.get(balanceKey(BUYER, 'USD')), {
      userId: BUYER,
      asset: 'USD',
      available: -600n,
      reserved: 600n,
    });
    assert.equal(available.get(balanceKey(BUYER, 'USD')), 400n);
    assert.ok(book.shortfall(BUYER, { asset: 'USD', amount: 401n }) !== undefined);
  });

  test('releasing gives reserved back to available', () => {
    const { ledger: book, available } = ledger();
    book.reserve(BUYER, { asset: 'USD', amount: 600n });

    book.release(BUYER, { asset: 'USD', amount: 200n });

    assert.deepEqual(book.deltas.get(balanceKey(BUYER, 'USD')), {
      userId: BUYER,
      asset: 'USD',
      available: -400n,
      reserved: 400n,
    });
    assert.equal(available.get(balanceKey(BUYER, 'USD')), 600n);
  });

  test('settles at the maker price: the buyer gets back what it held above it', () => {
    const { ledger: book } = ledger();
    // The buyer held 3 lots at 100; the trade is 2 lots at 90.
    book.reserve(BUYER, { asset: 'USD', amount: 300n });
    book.reserve(SELLER, { asset: 'BTC', amount: 20n });

    book.settle({
      market,
      price: 90,
      quantity: 2,
      buyer: { userId: BUYER, reservePrice: 100 },
      seller: { userId: SELLER },
    });

    const delta = (userId: number, asset: string) => {
      const found = book.deltas.get(balanceKey(userId, asset));
      return found && { available: found.available, reserved: found.reserved };
    };
    // Held 200 for the 2 lots, paid 180: 20 back; 100 still held for the third lot.
    assert.deepEqual(delta(BUYER, 'USD'), { available: -280n, reserved: 100n });
    assert.deepEqual(delta(BUYER, 'BTC'), { available: 20n, reserved: 0n });
    assert.deepEqual(delta(SELLER, 'BTC'), { available: -20n, reserved: 0n });
    assert.deepEqual(delta(SELLER, 'USD'), { available: 180n, reserved: 0n });
  });

  test('a settlement moves no money into or out of the market', () => {
    const { ledger: book } = ledger();
    book.reserve(BUYER, { asset: 'USD', amount: 500n });
    book.reserve(SELLER, { asset: 'BTC', amount: 50n });

    book.settle({
      market,
      price: 70,
      quantity: 5,
      buyer: { userId: BUYER, reservePrice: 100 },
      seller: { userId: SELLER },
    });

    const total = (asset: string) =>
      [...book.deltas.values()]
        .filter((d) => d.asset === asset)
        .reduce((sum, d) => sum + d.available + d.reserved, 0n);
    assert.equal(total('USD'), 0n);
    assert.equal(total('BTC'), 0n);
  });

  test('keeps one delta per balance row, in the order the rows were first changed', () => {
    const { ledger: book } = ledger();

    book.reserve(SELLER, { asset: 'BTC', amount: 10n });
    book.reserve(BUYER, { asset: 'USD', amount: 10n });
    book.release(SELLER, { asset: 'BTC', amount: 10n });

    assert.deepEqual(
      [...book.deltas.values()].map((d) => [d.userId, d.asset, d.available, d.reserved]),
      [
        [SELLER, 'BTC', 0n, 0n],
        [BUYER, 'USD', -10n, 10n],
      ],
    );
  });
});
