import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryQuotaCounter } from '../../src/adapters/rate-limit/quota.memory.js';
import { RedisQuotaCounter } from '../../src/adapters/rate-limit/quota.redis.js';
import { DomainError } from '../../src/domain/errors.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import type { QuotaCounter } from '../../src/domain/ports/quota.port.js';
import { RedisTestContext } from '../contract/support/redis.js';
import { captureLogger, metricValue } from '../unit/adapters/support/observability.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

let next = 0;
const order = (overrides: Partial<PlaceOrderRequest> = {}): PlaceOrderRequest => ({
  clientOrderId: `rq-${++next}`,
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 100n,
  quantity: 1n,
  postOnly: false,
  ...overrides,
});

const key = (userId: number) => `open_orders:${userId}`;
const LIMIT = 4;

const isExhausted = (error: unknown) =>
  error instanceof DomainError && error.code === 'resource_exhausted';

/** Open orders per user, straight from PostgreSQL. */
async function openInPostgres(harness: OrdersHarness): Promise<Map<number, number>> {
  const { rows } = await harness.postgres.query<{ user_id: string; n: number }>(
    `SELECT user_id::text, count(*)::int AS n FROM orders
     WHERE status IN ('new', 'partially_filled') GROUP BY user_id`,
  );
  return new Map(rows.map((r) => [Number(r.user_id), r.n]));
}

describe('open-order quota reconciliation when the engine starts (Redis counter)', () => {
  const redis = new RedisTestContext();
  const capture = captureLogger();
  let quotas: RedisQuotaCounter;
  let harness: OrdersHarness;

  before(async () => {
    const { connection, policy } = await redis.connect();
    quotas = new RedisQuotaCounter({ redis: connection.client, policy });
    harness = new OrdersHarness(
      { maxOpenOrdersPerUser: LIMIT },
      { quotas, logger: capture.logger },
    );
    await harness.start();
  });
  after(async () => {
    await harness.stop();
    await redis.cleanup();
  });

  test('a restart sets every counter to the open orders in PostgreSQL', async () => {
    const alice = await harness.user();
    const bob = await harness.user();
    const carol = await harness.user();
    const dave = await harness.user();
    await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(bob, order({ side: 'sell', price: 90_000n }));
    await harness.orders.orders.place(dave, order({ price: 50n }));
    // The crash: units taken by a process that died before giving them back (an order that
    // never reached the engine, a fill whose release never ran), and one counter lost.
    await quotas.acquire(key(alice), LIMIT);
    await quotas.acquire(key(alice), LIMIT);
    await quotas.set(key(carol), 3);
    await quotas.set(key(dave), 0);
    await assert.rejects(harness.orders.orders.place(alice, order()), isExhausted);

    await harness.restart();

    const truth = await openInPostgres(harness);
    assert.deepEqual(
      [...truth].sort(([a], [b]) => a - b),
      [
        [alice, 2],
        [bob, 1],
        [dave, 1],
      ],
    );
    for (const user of [alice, bob, carol, dave]) {
      assert.equal(await quotas.current(key(user)), truth.get(user) ?? 0, `user ${user}`);
    }
    assert.deepEqual(
      (await quotas.keys('open_orders:')).sort(),
      [key(alice), key(bob), key(dave)].sort(),
    );
    // Alice has her leaked units back; the limit still holds.
    await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(alice, order());
    await assert.rejects(harness.orders.orders.place(alice, order()), isExhausted);

    const line = capture.lines.findLast((l) => l.msg === 'open-order quota reconciled');
    assert.ok(line !== undefined);
    assert.deepEqual(
      { users: line.users, units: line.units, leaked: line.leaked, missing: line.missing },
      { users: 3, units: 4, leaked: 5, missing: 1 },
    );
    assert.equal(line.corrected, 3);
    assert.equal(
      await metricValue(harness.registry, 'open_order_quota_corrected_units_total', {
        kind: 'leaked',
      }),
      5,
    );
  });
});

describe('open-order quota reconciliation failure', () => {
  const memory = new MemoryQuotaCounter();
  let broken = false;
  // The memory twin, except that listing keys fails while `broken` (Redis down at start-up).
  const quotas: QuotaCounter = {
    acquire: (k, limit) => memory.acquire(k, limit),
    release: (k) => memory.release(k),
    current: (k) => memory.current(k),
    set: (k, units) => memory.set(k, units),
    keys: (prefix) => (broken ? Promise.reject(new Error('redis is down')) : memory.keys(prefix)),
  };
  const capture = captureLogger();
  const harness = new OrdersHarness(
    { maxOpenOrdersPerUser: LIMIT },
    { quotas, logger: capture.logger },
  );
  before(() => harness.start());
  after(() => harness.stop());

  test('does not keep the engine from starting; counters are left as they were', async () => {
    const alice = await harness.user();
    await harness.orders.orders.place(alice, order());
    await memory.acquire(key(alice), LIMIT);
    broken = true;

    await harness.restart();
    broken = false;

    assert.equal(await memory.current(key(alice)), 2);
    assert.ok(
      capture.lines.some(
        (l) => l.msg === 'open-order quota reconciliation failed; counters left as they were',
      ),
    );
    const placed = await harness.orders.orders.place(alice, order());
    assert.equal(placed.order.status, 'new');
  });
});
