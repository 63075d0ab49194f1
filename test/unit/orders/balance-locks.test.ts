import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { balanceLocks } from '../../../src/adapters/orders/balance-locks.js';
import type { MutableOrder } from '../../../src/adapters/orders/batch-plan.js';
import { balanceKey } from '../../../src/domain/orders/balance-ledger.js';
import type { Market } from '../../../src/domain/orders/market.js';
import type { OrderCommand } from '../../../src/domain/orders/order-engine.port.js';
import { MatchingEngine, type SelfTradePrevention } from '../../../src/engine/index.js';
import { planner } from './support/planner.js';

const markets = new Map<string, Market>(
  ['BTC-USD', 'ETH-USD'].map((symbol) => [
    symbol,
    {
      spec: { symbol, tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 50 },
      baseAsset: symbol.slice(0, 3),
      quoteAsset: 'USD',
      quoteMinorPerTickLot: 1,
      baseMinorPerLot: 1,
    },
  ]),
);
const now = new Date('2026-01-01T00:00:00Z');
const USERS = 12;

/** A shard of two books whose users hold plenty of everything (as if every row were read). */
function shard(selfTradePrevention: SelfTradePrevention) {
  const engine = new MatchingEngine(
    [...markets.values()].map((m) => m.spec),
    { selfTradePrevention },
  );
  const open = new Map<number, MutableOrder>();
  const available = new Map<string, bigint>();
  for (let user = 1; user <= USERS; user++) {
    for (const asset of ['USD', 'BTC', 'ETH']) available.set(balanceKey(user, asset), 10n ** 12n);
  }
  const plan = planner({ engine, open, markets, available, now });
  return { engine, open, plan };
}

let clientIds = 0;
const command = fc.oneof(
  fc.record({
    kind: fc.constant('place' as const),
    userId: fc.integer({ min: 1, max: USERS }),
    symbol: fc.constantFrom('BTC-USD', 'ETH-USD'),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    type: fc.constantFrom('limit' as const, 'limit' as const, 'market' as const),
    timeInForce: fc.constantFrom('GTC' as const, 'IOC' as const, 'FOK' as const),
    price: fc.integer({ min: 95, max: 105 }),
    quantity: fc.integer({ min: 1, max: 20 }),
    postOnly: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  }),
  fc.record({
    kind: fc.constant('cancel' as const),
    userId: fc.integer({ min: 1, max: USERS }),
    symbol: fc.constantFrom('BTC-USD', 'ETH-USD'),
    orderId: fc.integer({ min: 1, max: 60 }),
  }),
  fc.record({
    kind: fc.constant('amend' as const),
    userId: fc.integer({ min: 1, max: USERS }),
    symbol: fc.constantFrom('BTC-USD', 'ETH-USD'),
    orderId: fc.integer({ min: 1, max: 60 }),
    price: fc.option(fc.integer({ min: 95, max: 105 }), { nil: undefined }),
    quantity: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
  }),
);
/** Commands as the order service sends them: places carry a fresh client order id. */
const batch = (size: number) =>
  fc.array(command, { minLength: 1, maxLength: size }).map((commands) =>
    commands.map((c): OrderCommand => {
      if (c.kind !== 'place') return c;
      const { price, ...rest } = c;
      return {
        ...rest,
        clientOrderId: `c${String(++clientIds)}`,
        price: c.type === 'market' ? 0 : price,
        postOnly: c.type === 'market' ? false : c.postOnly,
        timeInForce: c.type === 'market' ? 'IOC' : c.timeInForce,
      };
    }),
  );

/** Limit orders that rest where they do not cross: deep books for the batch under test. */
const resting = fc
  .array(
    fc.record({
      userId: fc.integer({ min: 1, max: USERS }),
      symbol: fc.constantFrom('BTC-USD', 'ETH-USD'),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      offset: fc.integer({ min: 0, max: 5 }),
      quantity: fc.integer({ min: 1, max: 10 }),
    }),
    { maxLength: 40 },
  )
  .map((orders) =>
    orders.map((o): OrderCommand => ({
      kind: 'place',
      userId: o.userId,
      clientOrderId: `r${String(++clientIds)}`,
      symbol: o.symbol,
      side: o.side,
      type: 'limit',
      timeInForce: 'GTC',
      price: o.side === 'buy' ? 99 - o.offset : 101 + o.offset,
      quantity: o.quantity,
      postOnly: false,
    })),
  );

describe('balanceLocks', () => {
  test("'touched' locks every balance the batch then changes (random books and batches)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<SelfTradePrevention>(
          // Trading past one's own resting orders (cancelled, not filled) is the subtle case.
          'cancel-resting',
          'cancel-resting',
          'cancel-incoming',
          'cancel-both',
        ),
        resting,
        fc.array(batch(12), { maxLength: 3 }),
        batch(12),
        (stp, book, history, last) => {
          const { engine, open, plan } = shard(stp);
          for (const commands of [book, ...history]) plan(commands);
          const locked = new Set(
            balanceLocks({ engine, open, markets, commands: last, scope: 'touched' }).map((k) =>
              balanceKey(k.userId, k.asset),
            ),
          );

          const changed = [...plan(last).deltas.values()].filter(
            (d) => d.available !== 0n || d.reserved !== 0n,
          );

          const unlocked = changed.filter((d) => !locked.has(balanceKey(d.userId, d.asset)));
          assert.deepEqual(unlocked, []);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test("'held' locks only what places and amends spend from, in key order", () => {
    const { engine, open, plan } = shard('cancel-incoming');
    plan([
      {
        kind: 'place',
        userId: 2,
        clientOrderId: 'a',
        symbol: 'BTC-USD',
        side: 'sell',
        type: 'limit',
        timeInForce: 'GTC',
        price: 100,
        quantity: 5,
        postOnly: false,
      },
    ]);

    const keys = balanceLocks({
      engine,
      open,
      markets,
      scope: 'held',
      commands: [
        {
          kind: 'place',
          userId: 3,
          clientOrderId: 'b',
          symbol: 'BTC-USD',
          side: 'buy',
          type: 'limit',
          timeInForce: 'GTC',
          price: 100,
          quantity: 1,
          postOnly: false,
        },
        { kind: 'amend', userId: 2, symbol: 'BTC-USD', orderId: 1, quantity: 4 },
        { kind: 'cancel', userId: 1, symbol: 'BTC-USD', orderId: 9 },
      ],
    });

    assert.deepEqual(keys, [
      { userId: 2, asset: 'BTC' },
      { userId: 3, asset: 'USD' },
    ]);
  });

  test("'touched' adds both assets of the makers a batch can reach, and no deeper", () => {
    const { engine, open, plan } = shard('cancel-incoming');
    const sell = (userId: number, price: number, quantity: number): OrderCommand => ({
      kind: 'place',
      userId,
      clientOrderId: `s${String(userId)}`,
      symbol: 'BTC-USD',
      side: 'sell',
      type: 'limit',
      timeInForce: 'GTC',
      price,
      quantity,
      postOnly: false,
    });
    plan([sell(2, 100, 3), sell(4, 101, 3), sell(5, 102, 3)]);

    const keys = balanceLocks({
      engine,
      open,
      markets,
      scope: 'touched',
      commands: [
        {
          kind: 'place',
          userId: 1,
          clientOrderId: 'b',
          symbol: 'BTC-USD',
          side: 'buy',
          type: 'limit',
          timeInForce: 'GTC',
          price: 105,
          quantity: 4,
          postOnly: false,
        },
      ],
    });

    assert.deepEqual(
      keys.map((k) => `${String(k.userId)}:${k.asset}`),
      ['1:BTC', '1:USD', '2:BTC', '2:USD', '4:BTC', '4:USD'],
    );
  });

  test("'touched' counts an amend of an order placed in the same batch as a taker", () => {
    // Found by the property above (seed 1543945284): a client that guesses the id its place
    // will get can amend that order in the same batch, to a price that trades.
    const { engine, open, plan } = shard('cancel-incoming');
    plan([
      {
        kind: 'place',
        userId: 2,
        clientOrderId: 'ask',
        symbol: 'ETH-USD',
        side: 'sell',
        type: 'limit',
        timeInForce: 'GTC',
        price: 101,
        quantity: 1,
        postOnly: false,
      },
    ]);
    const commands: OrderCommand[] = [
      {
        kind: 'place',
        userId: 9,
        clientOrderId: 'low',
        symbol: 'ETH-USD',
        side: 'buy',
        type: 'limit',
        timeInForce: 'GTC',
        price: 95,
        quantity: 1,
        postOnly: false,
      },
      { kind: 'amend', userId: 9, symbol: 'ETH-USD', orderId: 2, price: 101 },
    ];

    const keys = balanceLocks({ engine, open, markets, scope: 'touched', commands });

    assert.ok(plan(commands).fills.length === 1, 'the amended order trades with the ask');
    assert.deepEqual(
      keys.map((k) => `${String(k.userId)}:${k.asset}`),
      ['2:ETH', '2:USD', '9:ETH', '9:USD'],
    );
  });
});
