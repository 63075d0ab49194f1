import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MatchingEngine } from '../../../src/engine/index.js';
import { SPEC, limit, rejection, types } from './helpers.js';

const BTC = { ...SPEC, symbol: 'BTC-USD' };
const ETH = { ...SPEC, symbol: 'ETH-USD' };

describe('matching engine', () => {
  test('routes each command to the book of its symbol', () => {
    const engine = new MatchingEngine([BTC, ETH]);

    engine.execute({ kind: 'place', symbol: 'BTC-USD', ...limit('buy', 100, 1) });
    engine.execute({ kind: 'place', symbol: 'ETH-USD', ...limit('sell', 200, 2) });

    assert.deepEqual(engine.book('BTC-USD')?.snapshot(1), {
      bids: [{ price: 100, quantity: 1 }],
      asks: [],
    });
    assert.deepEqual(engine.book('ETH-USD')?.snapshot(1), {
      bids: [],
      asks: [{ price: 200, quantity: 2 }],
    });
    assert.deepEqual(engine.symbols(), ['BTC-USD', 'ETH-USD']);
  });

  test('routes cancels and amends too', () => {
    const engine = new MatchingEngine([BTC]);
    const order = limit('buy', 100, 5);
    engine.execute({ kind: 'place', symbol: 'BTC-USD', ...order });

    const amended = engine.execute({
      kind: 'amend',
      symbol: 'BTC-USD',
      orderId: order.orderId,
      quantity: 3,
    });
    const cancelled = engine.execute({ kind: 'cancel', symbol: 'BTC-USD', orderId: order.orderId });

    assert.deepEqual(types(amended), ['amended']);
    assert.deepEqual(types(cancelled), ['done']);
  });

  test('rejects a command for a symbol it does not trade', () => {
    const engine = new MatchingEngine([BTC]);

    const event = rejection(engine.execute({ kind: 'cancel', symbol: 'DOGE-USD', orderId: 7 }));

    assert.equal(event.code, 'unknown-symbol');
    assert.equal(event.command, 'cancel');
    assert.match(event.reason, /DOGE-USD is not traded here; known: BTC-USD/);
  });

  test('appends to a caller-provided event list', () => {
    const engine = new MatchingEngine([BTC]);
    const out = engine.execute({ kind: 'place', symbol: 'BTC-USD', ...limit('buy', 100, 1) });

    const same = engine.execute({ kind: 'place', symbol: 'BTC-USD', ...limit('buy', 99, 1) }, out);

    assert.equal(same, out);
    assert.deepEqual(types(out), ['accepted', 'rested', 'accepted', 'rested']);
  });

  test('refuses a symbol listed twice', () => {
    assert.throws(() => new MatchingEngine([BTC, BTC]), RangeError);
  });

  test('replaces a book with one restored from open orders', () => {
    const engine = new MatchingEngine([BTC]);
    engine.execute({ kind: 'place', symbol: 'BTC-USD', ...limit('buy', 100, 1) });
    const book = engine.book('BTC-USD');
    const orders = book?.openOrders() ?? [];
    const state = book?.state() ?? { nextTradeId: 1, nextPriority: 1, lastTradePrice: 0 };

    const fresh = new MatchingEngine([BTC]);
    const restored = fresh.restoreBook('BTC-USD', orders, state);

    assert.equal(fresh.book('BTC-USD'), restored);
    assert.equal(restored.checksum(), book?.checksum());
    assert.throws(() => fresh.restoreBook('ETH-USD', [], state), RangeError);
  });
});
