import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MatchingEngine } from '../../../src/engine/index.js';
import {
  balanceKey,
  balancesPlaceholder,
  type BatchPlan,
  type MutableOrder,
} from '../../../src/adapters/orders/batch-plan.js';
import type { Market } from '../../../src/domain/orders/market.js';
import type { OrderCommand } from '../../../src/domain/orders/order-engine.port.js';
import { planner } from './support/planner.js';

const market: Market = {
  spec: { symbol: 'BTC-USD', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 100 },
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  quoteMinorPerTickLot: 1,
  baseMinorPerLot: 10,
};
const markets = new Map([[market.spec.symbol, market]]);
const now = new Date('2026-01-01T00:00:00Z');

const place = (
  userId: number,
  side: 'buy' | 'sell',
  price: number,
  quantity: number,
  extra: Partial<OrderCommand & { kind: 'place' }> = {},
): OrderCommand => ({
  kind: 'place',
  userId,
  clientOrderId: `c${userId}-${side}-${price}-${quantity}`,
  symbol: 'BTC-USD',
  side,
  type: 'limit',
  timeInForce: 'GTC',
  price,
  quantity,
  postOnly: false,
  ...extra,
});

/** A fresh shard state: engine, open orders and the locked balances of users 1 and 2. */
function shard() {
  const engine = new MatchingEngine([market.spec], {
    selfTradePrevention: 'cancel-incoming',
    emitLevelChanges: true,
  });
  const open = new Map<number, MutableOrder>();
  const available = new Map<string, bigint>([
    [balanceKey(1, 'USD'), 1_000n],
    [balanceKey(1, 'BTC'), 100n],
    [balanceKey(2, 'USD'), 1_000n],
    [balanceKey(2, 'BTC'), 100n],
  ]);
  const plan = planner({ engine, open, markets, available, now });
  const run = (...commands: OrderCommand[]) => plan(commands);
  /** A batch of no commands that publishes the tickers of `symbols`. */
  const publish = (...symbols: string[]) => plan([], symbols);
  return { engine, open, available, run, publish };
}

describe('planBatch', () => {
  test('reserves a resting buy and writes one new order', () => {
    const { run } = shard();

    const plan = run(place(1, 'buy', 100, 3));

    assert.deepEqual(plan.outcomes, [{ ok: true, orderId: 1, fills: [] }]);
    assert.equal(plan.inserted.get(1)?.status, 'new');
    assert.deepEqual(plan.deltas.get(balanceKey(1, 'USD')), {
      userId: 1,
      asset: 'USD',
      available: -300n,
      reserved: 300n,
    });
  });

  test('settles a trade at the maker price and returns the buyer the difference', () => {
    const { run } = shard();
    run(place(2, 'sell', 90, 2));

    const plan = run(place(1, 'buy', 100, 2));

    assert.equal(plan.inserted.get(2)?.status, 'filled');
    assert.equal(plan.updated.get(1)?.status, 'filled');
    assert.deepEqual(plan.deltas.get(balanceKey(1, 'USD')), {
      userId: 1,
      asset: 'USD',
      available: -180n,
      reserved: 0n,
    });
    assert.deepEqual(plan.deltas.get(balanceKey(1, 'BTC')), {
      userId: 1,
      asset: 'BTC',
      available: 20n,
      reserved: 0n,
    });
    assert.deepEqual(plan.deltas.get(balanceKey(2, 'BTC'))?.reserved, -20n);
    assert.deepEqual(plan.deltas.get(balanceKey(2, 'USD'))?.available, 180n);
    assert.equal(plan.fills.length, 1);
  });

  test('refuses an order the locked balance cannot cover, without touching the book', () => {
    const { run, engine } = shard();

    const plan = run(place(1, 'buy', 600, 2));

    const [outcome] = plan.outcomes;
    assert.ok(outcome !== undefined && !outcome.ok);
    assert.equal(outcome.error.code, 'failed_precondition');
    assert.equal(engine.book('BTC-USD')?.openOrderCount, 0);
    assert.equal(plan.inserted.size, 0);
  });

  test('spends the balance in command order within one batch', () => {
    const { run } = shard();

    const plan = run(
      place(1, 'buy', 500, 1, { clientOrderId: 'a' }),
      place(1, 'buy', 500, 1, { clientOrderId: 'b' }),
      place(1, 'buy', 500, 1, { clientOrderId: 'c' }),
    );

    assert.deepEqual(
      plan.outcomes.map((o) => o.ok),
      [true, true, false],
    );
  });

  test('reserves a market buy at the worst ask it can reach and releases the rest', () => {
    const { run } = shard();
    run(place(2, 'sell', 100, 1), place(2, 'sell', 110, 1));

    const plan = run(place(1, 'buy', 0, 5, { type: 'market', timeInForce: 'IOC' }));

    assert.equal(plan.inserted.get(3)?.reservePrice, 110);
    assert.equal(plan.inserted.get(3)?.status, 'canceled');
    assert.deepEqual(plan.deltas.get(balanceKey(1, 'USD')), {
      userId: 1,
      asset: 'USD',
      available: -210n,
      reserved: 0n,
    });
  });

  test("never lets a user cancel another user's order", () => {
    const { run } = shard();
    run(place(1, 'buy', 100, 1));

    const plan = run({ kind: 'cancel', userId: 2, symbol: 'BTC-USD', orderId: 1 });

    const [outcome] = plan.outcomes;
    assert.ok(outcome !== undefined && !outcome.ok);
    assert.equal(outcome.error.code, 'not_found');
  });

  test('a repeated client order id in one batch replays the order placed first', () => {
    const { run } = shard();

    const plan = run(place(1, 'buy', 100, 1), place(1, 'buy', 100, 1));

    const [first, repeat] = plan.outcomes;
    assert.deepEqual(first, { ok: true, orderId: 1, fills: [] });
    assert.ok(repeat?.ok === true && 'replay' in repeat, 'a replay, not a second acceptance');
    assert.equal(repeat.replay.order.id, 1);
    assert.equal(repeat.replay.order.status, 'new');
    assert.deepEqual(repeat.replay.fills, []);
    assert.equal(plan.inserted.size, 1);
    assert.equal(plan.deltas.get(balanceKey(1, 'USD'))?.reserved, 100n);
  });

  test('a repeat in one batch carries the fills of the order placed first, as they stand', () => {
    const { run } = shard();
    run(place(2, 'sell', 100, 1));

    const plan = run(place(1, 'buy', 100, 2), place(1, 'buy', 100, 2));

    const [first, repeat] = plan.outcomes;
    assert.ok(first?.ok === true && 'fills' in first);
    assert.ok(repeat?.ok === true && 'replay' in repeat);
    assert.equal(repeat.replay.order.id, 2);
    assert.equal(repeat.replay.order.status, 'partially_filled');
    assert.deepEqual(repeat.replay.fills, first.fills);
    // A copy: the live order changes with later commands and batches.
    assert.notEqual(repeat.replay.order, plan.inserted.get(2));
  });

  test('a client order id reused in one batch for a different order is refused, and nothing of it is planned', () => {
    const { run } = shard();

    const plan = run(
      place(1, 'buy', 100, 1, { clientOrderId: 'same' }),
      place(1, 'buy', 100, 2, { clientOrderId: 'same' }),
    );

    const [, second] = plan.outcomes;
    assert.ok(second !== undefined && !second.ok);
    assert.equal(second.error.code, 'already_exists');
    assert.match(second.error.message, /already order 1, a different order \(quantity: 1, not 2\)/);
    assert.equal(plan.inserted.size, 1);
    assert.equal(plan.deltas.get(balanceKey(1, 'USD'))?.reserved, 100n);
  });

  test('emits an execution report per order changed, the trade and the book levels', () => {
    const { run } = shard();
    run(place(2, 'sell', 90, 1));

    const plan = run(place(1, 'buy', 90, 1));

    assert.deepEqual(
      plan.messages
        .slice(0, plan.completeMessages)
        .map((m) => m.stream)
        .sort(),
      ['book.BTC-USD', 'orders.1', 'orders.2', 'ticker.BTC-USD', 'trades.BTC-USD'],
    );
  });

  test('ends with one balance update per user whose balances changed, for the write to fill in', () => {
    const { run } = shard();
    run(place(2, 'sell', 90, 1));

    const plan = run(place(1, 'buy', 90, 1));

    assert.deepEqual(plan.messages.slice(plan.completeMessages), [
      { stream: 'orders.1', payload: balancesPlaceholder(1) },
      { stream: 'orders.2', payload: balancesPlaceholder(2) },
    ]);
  });

  test('each execution report carries the fills of that order the change made, and the trade its time', () => {
    const { run } = shard();
    const resting = run(place(2, 'sell', 90, 1));
    const [rested] = resting.messages.filter((m) => m.stream === 'orders.2');

    const plan = run(place(1, 'buy', 90, 1));

    const payload = (stream: string) =>
      JSON.parse(plan.messages.find((m) => m.stream === stream)?.payload ?? '{}') as {
        fills?: { tradeId: number; price: number; quantity: number; maker: boolean }[];
        timeMs?: number;
      };
    const [trade] = plan.fills;
    assert.equal((JSON.parse(rested?.payload ?? '{}') as { fills?: unknown }).fills, undefined);
    assert.deepEqual(payload('orders.1').fills, [
      { tradeId: trade?.tradeId, price: 90, quantity: 1, maker: false },
    ]);
    assert.deepEqual(payload('orders.2').fills, [
      { tradeId: trade?.tradeId, price: 90, quantity: 1, maker: true },
    ]);
    assert.equal(payload('trades.BTC-USD').timeMs, now.getTime());
  });

  describe('tickers', () => {
    const tickersOf = (plan: BatchPlan) =>
      plan.messages
        .filter((m) => m.stream === 'ticker.BTC-USD')
        .map((m) => JSON.parse(m.payload) as Record<string, unknown>);

    test('a batch that trades publishes one whole ticker: last trade, new top of book, 24h figures', () => {
      const { run } = shard();
      run(place(2, 'sell', 90, 2), place(2, 'sell', 95, 1), place(1, 'buy', 80, 1));

      const plan = run(place(1, 'buy', 90, 1), place(1, 'buy', 90, 1, { clientOrderId: 'again' }));

      assert.deepEqual(tickersOf(plan), [
        {
          type: 'ticker',
          timeMs: now.getTime(),
          windowStartMs: now.getTime() - 86_400_000,
          lastPrice: 90,
          lastQuantity: 1,
          bidPrice: 80,
          bidQuantity: 1,
          askPrice: 95,
          askQuantity: 1,
          open: 90,
          high: 90,
          low: 90,
          volume: 2,
          quoteVolume: '180',
          trades: 2,
          change: 0,
          changeBp: 0,
        },
      ]);
      // After the trades and book changes, before the balance updates the write fills in.
      assert.equal(plan.messages[plan.completeMessages - 1]?.stream, 'ticker.BTC-USD');
    });

    test('a new best bid or ask publishes the ticker; an order behind the top does not', () => {
      const { run } = shard();
      run(place(1, 'buy', 80, 1));

      const behind = run(place(1, 'buy', 70, 1));
      const better = run(place(1, 'buy', 85, 1));

      assert.deepEqual(tickersOf(behind), []);
      assert.deepEqual(
        tickersOf(better).map((t) => [t.bidPrice, t.bidQuantity, t.trades]),
        [[85, 1, 0]],
      );
    });

    test('a due ticker is published by a batch of no commands', () => {
      const { run, publish } = shard();
      run(place(2, 'sell', 95, 3));

      const plan = publish('BTC-USD');

      assert.deepEqual(
        tickersOf(plan).map((t) => [t.askPrice, t.askQuantity]),
        [[95, 3]],
      );
      assert.equal(plan.messages.length, 1);
    });
  });
});
