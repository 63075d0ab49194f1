import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

type Action =
  | { kind: 'place'; user: number; request: Omit<PlaceOrderRequest, 'clientOrderId'>; key: number }
  | { kind: 'cancel'; user: number; pick: number }
  | { kind: 'amend'; user: number; pick: number; price: bigint; quantity: bigint };

const USERS = 3;

/** Valid and invalid orders alike: zero or huge quantities, prices off the band of the rest. */
const place = fc.record({
  kind: fc.constant('place' as const),
  user: fc.integer({ min: 0, max: USERS - 1 }),
  key: fc.integer({ min: 0, max: 30 }),
  request: fc.record({
    symbol: fc.constantFrom('BTC-USD', 'BTC-USD', 'BTC-USD', 'ETH-USD'),
    side: fc.constantFrom('buy' as const, 'sell' as const, undefined),
    type: fc.constantFrom('limit' as const, 'limit' as const, 'market' as const),
    timeInForce: fc.constantFrom('GTC' as const, 'IOC' as const, 'FOK' as const),
    price: fc.bigInt({ min: 0n, max: 120n }),
    quantity: fc.bigInt({ min: 0n, max: 60n }),
    postOnly: fc.boolean(),
  }),
});
const cancel = fc.record({
  kind: fc.constant('cancel' as const),
  user: fc.integer({ min: 0, max: USERS - 1 }),
  pick: fc.nat(),
});
const amend = fc.record({
  kind: fc.constant('amend' as const),
  user: fc.integer({ min: 0, max: USERS - 1 }),
  pick: fc.nat(),
  price: fc.bigInt({ min: 1n, max: 120n }),
  quantity: fc.bigInt({ min: 1n, max: 60n }),
});

describe('balances under random order streams', () => {
  // Small balances so that "insufficient balance" is common; small batches so they interleave.
  const harness = new OrdersHarness({ batching: { maxBatchSize: 8, maxBatchDelayMs: 1 } });
  before(() => harness.start());
  after(() => harness.stop());

  const totals = async () => {
    const { rows } = await harness.postgres.query<{
      asset: string;
      total: string;
      reserved: string;
    }>(
      `SELECT asset, sum(available + reserved)::text AS total, sum(reserved)::text AS reserved
       FROM balances GROUP BY asset ORDER BY asset`,
    );
    return rows;
  };

  test('keep sum(available + reserved) per asset constant, and reserved = what open orders hold', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(place, place, cancel, amend), { minLength: 10, maxLength: 60 }),
        async (actions: Action[]) => {
          run += 1;
          const users = await Promise.all(
            Array.from({ length: USERS }, () => harness.user({ USD: 50_000n, BTC: 400_000_000n })),
          );
          const before = await totals();
          const placed: number[][] = users.map(() => []);
          // Fired in waves of concurrent calls, so batches mix users and commands.
          for (let i = 0; i < actions.length; i += 6) {
            await Promise.allSettled(
              actions.slice(i, i + 6).map(async (action) => {
                const userId = users[action.user] ?? 0;
                const mine = placed[action.user] ?? [];
                if (action.kind === 'place') {
                  const result = await harness.orders.orders.place(userId, {
                    ...action.request,
                    clientOrderId: `p${run}-${action.user}-${action.key}`,
                  });
                  mine.push(result.order.id);
                } else if (mine.length > 0) {
                  const orderId = String(mine[action.pick % mine.length]);
                  await (action.kind === 'cancel'
                    ? harness.orders.orders.cancel(userId, { orderId })
                    : harness.orders.orders.amend(userId, {
                        orderId,
                        price: action.price,
                        quantity: action.quantity,
                      }));
                }
              }),
            );
          }
          const afterTotals = await totals();
          assert.deepEqual(
            afterTotals.map((r) => [r.asset, r.total]),
            before.map((r) => [r.asset, r.total]),
          );
          const { rows: held } = await harness.postgres.query<{ asset: string; held: string }>(
            `SELECT CASE WHEN side = 'buy' THEN 'USD' ELSE 'BTC' END AS asset,
             sum(CASE WHEN side = 'buy' THEN (quantity - filled) * reserve_price
                      ELSE (quantity - filled) * 1000000 END)::text AS held
           FROM orders WHERE status IN ('new', 'partially_filled') GROUP BY 1 ORDER BY 1`,
          );
          for (const row of afterTotals) {
            const expected = held.find((h) => h.asset === row.asset)?.held ?? '0';
            assert.equal(row.reserved, expected, `reserved ${row.asset}`);
          }
        },
      ),
      { numRuns: 8, seed: 42 },
    );
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM fills',
    );
    assert.ok(Number(rows[0]?.n) > 0, 'the streams traded');
    // What foreign keys would guard (the engine writes without them, see migration 0003), and
    // more: every order's filled quantity is the sum of its fills.
    const { rows: broken } = await harness.postgres.query<{ what: string; n: string }>(
      `SELECT 'fills of unknown orders' AS what, count(*)::text AS n FROM fills f
       WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = f.maker_order_id)
          OR NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = f.taker_order_id)
       UNION ALL
       SELECT 'orders of unknown users', count(*)::text FROM orders o
       WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)
       UNION ALL
       SELECT 'orders whose filled is not the sum of their fills', count(*)::text FROM orders o
       WHERE o.filled <> (SELECT coalesce(sum(f.quantity), 0) FROM fills f
                          WHERE f.maker_order_id = o.id OR f.taker_order_id = o.id)`,
    );
    assert.deepEqual(
      broken.filter((row) => row.n !== '0'),
      [],
    );
  });
});
