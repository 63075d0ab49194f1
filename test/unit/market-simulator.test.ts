import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SymbolSpec } from '../../src/engine/index.js';
import { DomainError } from '../../src/domain/errors.js';
import {
  isOpen,
  type Order,
  type OrderResult,
  type PlacedOrder,
} from '../../src/domain/orders/order.js';
import type { OrderPage } from '../../src/domain/orders/order-desk.js';
import type {
  ListOrdersRequest,
  PlaceOrderRequest,
} from '../../src/domain/orders/order-requests.js';
import { createMetricsRegistry } from '../../src/telemetry/index.js';
import { balanceTargets, type BotAccounts } from '../../src/tools/bot-accounts.js';
import {
  DEFAULT_SIMULATOR_SETTINGS,
  MarketSimulator,
  type MarketSimulatorSettings,
  type SimulatorOrders,
} from '../../src/tools/market-simulator.js';
import { PriceWalk } from '../../src/tools/price-walk.js';
import { SeededRandom } from '../../src/tools/seeded-random.js';
import { LogCapture, sample } from '../support/app.js';

const SPEC: SymbolSpec = {
  symbol: 'BTC-USD',
  tickSize: 5,
  lotSize: 2,
  minQuantity: 3,
  maxQuantity: 1_000,
};

type Call =
  | { kind: 'place'; userId: number; request: PlaceOrderRequest }
  | { kind: 'cancel'; userId: number; orderId: string };

/**
 * An order service that rests every GTC order and never fills anything: the worst case for the
 * number of resting orders. Cancels of orders that are not open fail like the real one.
 */
class FakeOrders implements SimulatorOrders {
  readonly calls: Call[] = [];
  readonly orders = new Map<number, Order>();
  failPlacesWith: DomainError | undefined;
  #nextId = 1;

  openOf(userId: number): Order[] {
    return [...this.orders.values()].filter((o) => o.userId === userId && isOpen(o.status));
  }

  rest(userId: number, symbol = SPEC.symbol): Order {
    return this.#store(userId, {
      clientOrderId: `earlier-${this.#nextId}`,
      symbol,
      side: 'buy',
      type: 'limit',
      timeInForce: 'GTC',
      price: 100n,
      quantity: 4n,
      postOnly: false,
    });
  }

  place(userId: number, request: PlaceOrderRequest): Promise<PlacedOrder> {
    this.calls.push({ kind: 'place', userId, request });
    if (this.failPlacesWith !== undefined) return Promise.reject(this.failPlacesWith);
    return Promise.resolve({ order: this.#store(userId, request), fills: [], replayed: false });
  }

  cancel(userId: number, request: { orderId: string }): Promise<OrderResult> {
    this.calls.push({ kind: 'cancel', userId, orderId: request.orderId });
    const order = this.orders.get(Number(request.orderId));
    if (order?.userId !== userId) {
      return Promise.reject(new DomainError('not_found', 'order not found'));
    }
    if (!isOpen(order.status)) {
      return Promise.reject(new DomainError('failed_precondition', 'order is done'));
    }
    const canceled: Order = { ...order, status: 'canceled' };
    this.orders.set(order.id, canceled);
    return Promise.resolve({ order: canceled, fills: [] });
  }

  list(userId: number, request: ListOrdersRequest): Promise<OrderPage> {
    const orders = this.openOf(userId)
      .filter((o) => request.statuses.includes(o.status))
      .sort((a, b) => b.id - a.id);
    return Promise.resolve({ orders, nextPageToken: '' });
  }

  #store(userId: number, request: PlaceOrderRequest): Order {
    const id = this.#nextId++;
    const now = new Date(0);
    const order: Order = {
      id,
      userId,
      clientOrderId: request.clientOrderId,
      symbol: request.symbol,
      side: request.side ?? 'buy',
      type: request.type ?? 'limit',
      timeInForce: request.timeInForce ?? 'GTC',
      price: Number(request.price),
      reservePrice: Number(request.price),
      quantity: Number(request.quantity),
      filled: 0,
      // An IOC finds nothing to take here and is done at once.
      status: request.timeInForce === 'GTC' ? 'new' : 'canceled',
      postOnly: request.postOnly,
      reason: '',
      priority: id,
      createdAt: now,
      updatedAt: now,
    };
    this.orders.set(id, order);
    return order;
  }
}

const fakeAccounts = (): BotAccounts => ({
  ensure: (usernames) =>
    Promise.resolve(usernames.map((username, i) => ({ userId: 101 + i, username }))),
  topUp: () => Promise.resolve([]),
});

function setup(overrides: Partial<MarketSimulatorSettings> = {}) {
  const orders = new FakeOrders();
  const logs = new LogCapture();
  const registry = createMetricsRegistry({ version: 't', role: 'all' });
  const simulator = new MarketSimulator(
    {
      orders,
      accounts: fakeAccounts(),
      walks: [new PriceWalk(SPEC, 65_000)],
      logger: logs.logger(),
      registry,
    },
    {
      ...DEFAULT_SIMULATOR_SETTINGS,
      seed: 7,
      ratePerSec: 1_000,
      bots: 3,
      runId: 'run1',
      maxRestingPerBot: 5,
      ...overrides,
    },
  );
  return { orders, logs, registry, simulator };
}

async function steps(simulator: MarketSimulator, count: number, after?: () => void) {
  for (let i = 0; i < count; i += 1) {
    await simulator.step();
    after?.();
  }
}

/** The calls with the bigints made printable, for deepEqual and for messages. */
const printable = (calls: readonly Call[]) =>
  JSON.stringify(calls, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );

describe('SeededRandom', () => {
  test('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => random.int(0, 1_000_000));
    };
    assert.deepEqual(draw(1), draw(1));
    assert.notDeepEqual(draw(1), draw(2));
  });
});

describe('PriceWalk', () => {
  test('keeps its mid, prices and sizes on the symbol grid and within its limits', () => {
    const walk = new PriceWalk(SPEC, 65_002);
    const random = new SeededRandom(3);
    for (let i = 0; i < 10_000; i += 1) {
      const mid = walk.move(random);
      assert.ok(mid >= 65_000 * 0.9 && mid <= 65_005 * 1.1, `mid ${mid} wandered off`);
      for (const price of [
        walk.restingPrice('buy', random),
        walk.restingPrice('sell', random),
        walk.crossingPrice('buy', random),
      ]) {
        assert.equal(price % SPEC.tickSize, 0);
      }
      const quantity = walk.quantity(random);
      assert.equal(quantity % SPEC.lotSize, 0);
      assert.ok(quantity >= SPEC.minQuantity && quantity <= SPEC.maxQuantity);
    }
  });

  test('quotes a resting order on its own side of the mid and a crossing one through it', () => {
    const walk = new PriceWalk(SPEC, 65_000);
    const random = new SeededRandom(4);
    assert.ok(walk.restingPrice('buy', random) < walk.mid);
    assert.ok(walk.restingPrice('sell', random) > walk.mid);
    assert.ok(walk.crossingPrice('buy', random) > walk.mid);
    assert.ok(walk.crossingPrice('sell', random) < walk.mid);
  });

  test('refuses a symbol with no lot-size multiple between its minimum and maximum', () => {
    assert.throws(
      () => new PriceWalk({ ...SPEC, lotSize: 10, minQuantity: 3, maxQuantity: 9 }, 100),
      RangeError,
    );
  });

  test('asks balances for the largest, most expensive order of each asset', () => {
    const walk = new PriceWalk(SPEC, 65_000);
    const market = {
      spec: SPEC,
      baseAsset: 'BTC',
      quoteAsset: 'USD',
      quoteMinorPerTickLot: 1,
      baseMinorPerLot: 1_000_000,
    };
    const targets = balanceTargets([
      { market, maxPrice: walk.maxPrice, maxQuantity: walk.maxQuantity },
    ]);
    assert.deepEqual(
      targets.map((t) => t.asset),
      ['USD', 'BTC'],
    );
    for (const target of targets) assert.ok(target.amount > 0n);
  });
});

describe('MarketSimulator', () => {
  test('makes the same decisions for the same seed, and others for another seed', async () => {
    const run = async (seed: number) => {
      const { orders, simulator } = setup({ seed });
      await simulator.prepare();
      await steps(simulator, 300);
      return printable(orders.calls);
    };
    assert.equal(await run(7), await run(7));
    assert.notEqual(await run(7), await run(8));
  });

  test('places limit orders on both sides, some of them crossing, with ids of this run', async () => {
    const { orders, simulator } = setup();
    await simulator.prepare();
    await steps(simulator, 300);

    const places = orders.calls.flatMap((c) => (c.kind === 'place' ? [c.request] : []));
    assert.ok(places.some((p) => p.side === 'buy') && places.some((p) => p.side === 'sell'));
    assert.ok(
      places.some((p) => p.timeInForce === 'IOC'),
      'no crossing order',
    );
    assert.ok(
      places.some((p) => p.timeInForce === 'GTC'),
      'no resting order',
    );
    for (const place of places) {
      assert.equal(place.type, 'limit');
      assert.equal(place.price % BigInt(SPEC.tickSize), 0n);
      assert.match(place.clientOrderId, /^sim-run1-\d+$/);
    }
    const ids = places.map((p) => p.clientOrderId);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('never lets a bot have more resting orders than its cap', async () => {
    const { orders, simulator } = setup({ maxRestingPerBot: 4, cancelProbability: 0 });
    await simulator.prepare();
    let most = 0;
    await steps(simulator, 1_000, () => {
      for (const userId of [101, 102, 103]) most = Math.max(most, orders.openOf(userId).length);
    });

    assert.equal(most, 4);
    assert.ok(orders.calls.some((c) => c.kind === 'cancel'));
  });

  test("cancels a bot's oldest resting order first", async () => {
    const { orders, simulator } = setup({ cancelProbability: 0.3 });
    await simulator.prepare();
    const oldestAtCancel: boolean[] = [];
    const cancel = orders.cancel.bind(orders);
    orders.cancel = (userId, request) => {
      const oldest = Math.min(...orders.openOf(userId).map((o) => o.id));
      oldestAtCancel.push(Number(request.orderId) === oldest);
      return cancel(userId, request);
    };
    await steps(simulator, 500);

    assert.ok(oldestAtCancel.length > 10);
    assert.ok(oldestAtCancel.every(Boolean));
  });

  test('cancels the orders its bots left resting in an earlier run', async () => {
    const { orders, simulator } = setup();
    const stale = [orders.rest(101), orders.rest(101), orders.rest(103)];

    await simulator.prepare();

    for (const order of stale) assert.equal(orders.orders.get(order.id)?.status, 'canceled');
  });

  test('counts failed places, warns at a limited rate, and keeps going', async () => {
    const { orders, simulator, registry, logs } = setup({ cancelProbability: 0 });
    await simulator.prepare();
    orders.failPlacesWith = new DomainError('unavailable', 'engine shard unavailable');

    await steps(simulator, 50);

    const metrics = await registry.metrics();
    assert.equal(
      sample(metrics, 'simulator_orders_total', { action: 'place', result: 'unavailable' }),
      50,
    );
    const warnings = logs.lines.filter((l) => l.msg === 'market simulator actions failing');
    assert.equal(warnings.length, 1);
    assert.equal(logs.lines.filter((l) => l.msg === 'market simulator action failed').length, 50);
  });

  test('counts a cancel of an order that is already done as gone, not as a failure', async () => {
    const { orders, simulator, registry } = setup({ maxRestingPerBot: 1, cancelProbability: 0 });
    await simulator.prepare();
    await steps(simulator, 20);
    // Everything resting gets filled behind the simulator's back.
    for (const order of orders.orders.values()) {
      if (isOpen(order.status)) orders.orders.set(order.id, { ...order, status: 'filled' });
    }
    await steps(simulator, 20);

    const metrics = await registry.metrics();
    assert.ok(
      (sample(metrics, 'simulator_orders_total', { action: 'cancel', result: 'gone' }) ?? 0) > 0,
    );
    assert.equal(
      sample(metrics, 'simulator_orders_total', { action: 'cancel', result: 'failed' }),
      undefined,
    );
  });

  test('runs in the background until stopped, then places nothing more', async () => {
    const { orders, simulator, registry, logs } = setup({ ratePerSec: 200 });

    simulator.start();
    await logsSay(logs, 'market simulator started');
    assert.equal(sample(await registry.metrics(), 'simulator_running', {}), 1);
    while (orders.calls.length < 20) await sleep(5);
    await simulator.stop();
    const callsAtStop = orders.calls.length;
    await sleep(50);

    assert.equal(orders.calls.length, callsAtStop);
    assert.equal(sample(await registry.metrics(), 'simulator_running', {}), 0);
    const started = logs.find('market simulator started');
    assert.ok(started);
    assert.equal(started.seed, 7);
    assert.equal(started.rate_per_s, 200);
    assert.equal(started.bots, 3);
    assert.ok(logs.find('market simulator stopped'));
  });

  test('keeps retrying to set up its bots while the database is down', async () => {
    const logs = new LogCapture();
    const accounts = fakeAccounts();
    let attempts = 0;
    const simulator = new MarketSimulator(
      {
        orders: new FakeOrders(),
        accounts: {
          ensure: (names) =>
            ++attempts < 3
              ? Promise.reject(new DomainError('unavailable', 'postgres is down'))
              : accounts.ensure(names),
          topUp: (bots) => accounts.topUp(bots),
        },
        walks: [new PriceWalk(SPEC, 65_000)],
        logger: logs.logger(),
        registry: createMetricsRegistry({ version: 't', role: 'all' }),
      },
      {
        ...DEFAULT_SIMULATOR_SETTINGS,
        seed: 1,
        ratePerSec: 100,
        bots: 2,
        runId: 'r',
        maxRestingPerBot: 3,
        retryDelayMs: 10,
      },
    );

    simulator.start();
    await logsSay(logs, 'market simulator started');
    await simulator.stop();

    assert.equal(attempts, 3);
    assert.equal(
      logs.lines.filter((l) => l.msg === 'market simulator could not set up its bots; retrying')
        .length,
      2,
    );
  });
});

async function logsSay(logs: LogCapture, msg: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (logs.find(msg) === undefined) {
    if (Date.now() > deadline) assert.fail(`no log line "${msg}"`);
    await sleep(5);
  }
}
