import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryQuotaCounter } from '../../src/adapters/rate-limit/quota.memory.js';
import { RedisQuotaCounter } from '../../src/adapters/rate-limit/quota.redis.js';
import { DomainError } from '../../src/domain/errors.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import { RedisTestContext } from '../contract/support/redis.js';
import { metricValue } from '../unit/adapters/support/observability.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

let next = 0;
const order = (overrides: Partial<PlaceOrderRequest> = {}): PlaceOrderRequest => ({
  clientOrderId: `q-${++next}`,
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 100n,
  quantity: 1n,
  postOnly: false,
  ...overrides,
});

describe('open-order quota', () => {
  const quotas = new MemoryQuotaCounter();
  const harness = new OrdersHarness({ maxOpenOrdersPerUser: 2 }, { quotas });
  before(() => harness.start());
  after(() => harness.stop());

  test('refuses a resting order over the limit with RESOURCE_EXHAUSTED', async () => {
    const alice = await harness.user();
    await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(alice, order());

    await assert.rejects(harness.orders.orders.place(alice, order()), (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 'resource_exhausted');
      assert.match(error.message, /the limit is 2/);
      return true;
    });
  });

  test('at the limit, a client order id reused for a different order is ALREADY_EXISTS', async () => {
    const alice = await harness.user();
    const first = await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(alice, order());

    await assert.rejects(
      harness.orders.orders.place(alice, {
        ...order({ price: 101n }),
        clientOrderId: first.order.clientOrderId,
      }),
      (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'already_exists', error.message);
        assert.match(error.message, /already order \d+, a different order \(price: 100, not 101\)/);
        return true;
      },
    );
    assert.equal(await quotas.current(`open_orders:${alice}`), 2);
  });

  test('orders that do not rest, replays and cancels give their unit back', async () => {
    const alice = await harness.user();
    const first = await harness.orders.orders.place(alice, order());
    await harness.orders.orders.place(
      alice,
      order({ type: 'market', timeInForce: 'IOC', price: 0n }),
    );
    const repeated = order();
    const original = await harness.orders.orders.place(alice, repeated);
    // At the limit now, yet a retry still gets its order back.
    const retried = await harness.orders.orders.place(alice, repeated);
    assert.equal(retried.order.id, original.order.id);
    assert.equal(await quotas.current(`open_orders:${alice}`), 2);

    await harness.orders.orders.cancel(alice, { orderId: String(first.order.id) });

    assert.equal(await quotas.current(`open_orders:${alice}`), 1);
  });

  test("a maker's fill gives its unit back after the commit", async () => {
    const maker = await harness.user();
    const taker = await harness.user();
    await harness.orders.orders.place(maker, order({ side: 'sell', price: 5_000n }));
    assert.equal(await quotas.current(`open_orders:${maker}`), 1);

    await harness.orders.orders.place(taker, order({ price: 5_000n, timeInForce: 'IOC' }));

    assert.equal(await quotas.current(`open_orders:${maker}`), 0);
  });
});

describe('open-order quota on Redis, with identical places sent at once', () => {
  const redis = new RedisTestContext();
  let quotas: RedisQuotaCounter;
  let harness: OrdersHarness;

  before(async () => {
    const { connection, policy } = await redis.connect();
    quotas = new RedisQuotaCounter({ redis: connection.client, policy });
    harness = new OrdersHarness({ maxOpenOrdersPerUser: 200 }, { quotas });
    await harness.start();
  });
  after(async () => {
    await harness.stop();
    await redis.cleanup();
  });

  test('ten parallel places of one client order id hold one unit, and nine are replays', async () => {
    const alice = await harness.user();
    const request = order({ price: 1_000n });
    const replayed = () =>
      metricValue(harness.registry, 'orders_total', {
        side: 'buy',
        type: 'limit',
        result: 'replayed',
      }).then((value) => value ?? 0);
    const replayedBefore = await replayed();

    const results = await Promise.all(
      Array.from({ length: 10 }, () => harness.orders.orders.place(alice, request)),
    );

    const [first] = results;
    assert.ok(first !== undefined);
    for (const result of results) assert.deepEqual(result.order, first.order);
    const { orders } = await harness.orders.orders.list(alice, {
      symbol: '',
      statuses: ['new', 'partially_filled'],
      pageSize: 20,
      pageToken: '',
    });
    assert.equal(orders.length, 1);
    assert.equal(await quotas.current(`open_orders:${alice}`), orders.length);
    assert.equal((await replayed()) - replayedBefore, 9, 'counted as replays');
    assert.equal(results.filter((result) => result.replayed).length, 9, 'answered as replays');
  });
});
