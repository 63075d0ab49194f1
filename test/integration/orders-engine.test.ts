import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DomainError } from '../../src/domain/errors.js';
import type { OrderCommand } from '../../src/domain/orders/order-engine.port.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import type { Duplex } from 'node:stream';
import { DEFAULT_ORDERS_SETTINGS } from '../../src/wiring/orders.js';
import { captureLogger, eventually, metricValue } from '../unit/adapters/support/observability.js';
import { DEMO, OrdersHarness } from '../unit/orders/support/orders-harness.js';

const limit = (overrides: Partial<PlaceOrderRequest> = {}): PlaceOrderRequest => ({
  clientOrderId: `c-${Math.random().toString(36).slice(2)}`,
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 65_000n,
  quantity: 2n,
  postOnly: false,
  ...overrides,
});

const rejectsWith = async (promise: Promise<unknown>, code: string, message?: RegExp) => {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
};

describe('orders on PostgreSQL (use cases through the engine shard)', () => {
  const harness = new OrdersHarness();
  before(() => harness.start());
  after(() => harness.stop());

  test('a resting buy reserves its cost in USD and is stored as new', async () => {
    const alice = await harness.user();

    const { order, fills } = await harness.orders.orders.place(alice, limit());

    assert.equal(order.status, 'new');
    assert.deepEqual(fills, []);
    // 2 lots × 65,000 ticks × 1 cent.
    assert.deepEqual((await harness.balances(alice)).USD, {
      available: DEMO.USD - 130_000n,
      reserved: 130_000n,
    });
    const stored = await harness.orders.orders.get(alice, { orderId: String(order.id) });
    assert.equal(stored.order.status, 'new');
  });

  test('a crossing sell trades at the maker price and settles both balances', async () => {
    const buyer = await harness.user();
    const seller = await harness.user();
    const bid = await harness.orders.orders.place(buyer, limit({ price: 70_000n, quantity: 3n }));

    const { order, fills } = await harness.orders.orders.place(
      seller,
      limit({ side: 'sell', price: 69_000n, quantity: 1n }),
    );

    assert.equal(order.status, 'filled');
    assert.deepEqual(
      fills.map((f) => [f.price, f.quantity, f.maker]),
      [[70_000, 1, false]],
    );
    assert.deepEqual(await harness.balances(seller), {
      USD: { available: DEMO.USD + 70_000n, reserved: 0n },
      BTC: { available: DEMO.BTC - 1_000_000n, reserved: 0n },
    });
    assert.deepEqual(await harness.balances(buyer), {
      USD: { available: DEMO.USD - 210_000n, reserved: 140_000n },
      BTC: { available: DEMO.BTC + 1_000_000n, reserved: 0n },
    });
    const maker = await harness.orders.orders.get(buyer, { orderId: String(bid.order.id) });
    assert.equal(maker.order.status, 'partially_filled');
    assert.equal(maker.order.filled, 1);
    assert.equal(maker.fills[0]?.maker, true);
  });

  test('repeating a client order id returns the original order, not a second one', async () => {
    const alice = await harness.user();
    const request = limit({ price: 1_000n });

    const [first, second] = await Promise.all([
      harness.orders.orders.place(alice, request),
      harness.orders.orders.place(alice, request),
    ]);
    const third = await harness.orders.orders.place(alice, request);

    assert.equal(second.order.id, first.order.id);
    assert.equal(third.order.id, first.order.id);
    const page = await harness.orders.orders.list(alice, {
      symbol: '',
      statuses: [],
      pageSize: 10,
      pageToken: '',
    });
    assert.equal(page.orders.length, 1);
    assert.equal((await harness.balances(alice)).USD?.reserved, 2_000n);
  });

  test('a client order id reused for a different order is ALREADY_EXISTS naming the order, and writes nothing', async () => {
    const alice = await harness.user();
    const request = limit({ price: 1_000n });
    const first = await harness.orders.orders.place(alice, request);
    const balances = await harness.balances(alice);
    const rejected = () =>
      metricValue(harness.registry, 'orders_total', {
        side: 'buy',
        type: 'limit',
        result: 'rejected',
      }).then((value) => value ?? 0);
    const rejectedBefore = await rejected();

    for (const [change, differs] of [
      [{ price: 1_100n }, 'price: 1000, not 1100'],
      [{ quantity: 3n }, 'quantity: 2, not 3'],
      [{ side: 'sell' }, 'side: buy, not sell'],
      [{ timeInForce: 'IOC' }, 'time_in_force: GTC, not IOC'],
      [{ postOnly: true }, 'post_only: false, not true'],
    ] as const) {
      await rejectsWith(
        harness.orders.orders.place(alice, { ...request, ...change }),
        'already_exists',
        new RegExp(
          `client order id ${request.clientOrderId} is already order ${first.order.id}, ` +
            `a different order \\(${differs}\\); use a new client order id`,
        ),
      );
    }

    const page = await harness.orders.orders.list(alice, {
      symbol: '',
      statuses: [],
      pageSize: 10,
      pageToken: '',
    });
    assert.deepEqual(
      page.orders.map((order) => order.id),
      [first.order.id],
    );
    assert.deepEqual(await harness.balances(alice), balances);
    // The sell is counted under side="sell".
    assert.equal((await rejected()) - rejectedBefore, 4, 'counted as rejected');
  });

  test('a retry after the order was amended still gets the order: it is compared with what was placed', async () => {
    const alice = await harness.user();
    const request = limit({ price: 1_000n, quantity: 2n });
    const placed = await harness.orders.orders.place(alice, request);
    const orderId = String(placed.order.id);
    await harness.orders.orders.amend(alice, { orderId, price: 900n, quantity: 3n });

    const retried = await harness.orders.orders.place(alice, request);

    assert.equal(retried.order.id, placed.order.id);
    assert.deepEqual([retried.order.price, retried.order.quantity], [900, 3]);
    await rejectsWith(
      harness.orders.orders.place(alice, { ...request, price: 900n, quantity: 3n }),
      'already_exists',
      /\(price: 1000, not 900\)/,
    );
  });

  test('a place repeated while its first attempt is still committing gets the same order, and no batch fails', async () => {
    // A retry after a timeout can reach the shard while the first attempt's batch commits; the
    // next batch cannot see that order yet, and inserting it again would fail the whole batch.
    const users = await Promise.all(Array.from({ length: 8 }, () => harness.user()));
    const failedBefore =
      (await metricValue(harness.registry, 'engine_batches_total', { result: 'failed' })) ?? 0;
    let busy = true;
    const failures: string[] = [];
    // Other users keep the pipeline full, so batches overlap.
    const load = Promise.all(
      users.slice(1).map(async (user) => {
        while (busy) {
          await harness.orders.orders
            .place(user, limit({ price: 1_000n, quantity: 1n }))
            .catch((error: unknown) => failures.push(String(error)));
        }
      }),
    );
    const alice = users[0] ?? 0;
    const pairs: [number, number][] = [];
    for (let i = 0; i < 40; i += 1) {
      const request = limit({ price: 1_000n, quantity: 1n });
      const first = harness.orders.orders.place(alice, request);
      await new Promise((resolve) => setTimeout(resolve, i % 4));
      const second = harness.orders.orders.place(alice, request);
      const [a, b] = await Promise.allSettled([first, second]);
      if (a.status === 'fulfilled' && b.status === 'fulfilled') {
        pairs.push([a.value.order.id, b.value.order.id]);
      } else {
        for (const outcome of [a, b]) {
          if (outcome.status === 'rejected') failures.push(String(outcome.reason));
        }
      }
    }
    busy = false;
    await load;

    assert.deepEqual(failures, []);
    assert.deepEqual(
      pairs.filter(([a, b]) => a !== b),
      [],
    );
    assert.equal(
      (await metricValue(harness.registry, 'engine_batches_total', { result: 'failed' })) ?? 0,
      failedBefore,
      'no batch failed',
    );
    assert.ok(
      ((await metricValue(harness.registry, 'engine_repeats_deferred_total')) ?? 0) > 0,
      'some repeats reached the shard while their first attempt was committing',
    );
  });

  test('bad input is INVALID_ARGUMENT naming the field, and writes nothing', async () => {
    const alice = await harness.user();
    const place = (overrides: Partial<PlaceOrderRequest>) =>
      harness.orders.orders.place(alice, limit(overrides));

    await rejectsWith(
      place({ symbol: 'DOGE-USD' }),
      'invalid_argument',
      /symbol: DOGE-USD is not traded/,
    );
    await rejectsWith(place({ quantity: 0n }), 'invalid_argument', /quantity/);
    await rejectsWith(place({ quantity: 10_001n }), 'invalid_argument', /between 1 and 10000/);
    await rejectsWith(place({ price: 0n }), 'invalid_argument', /price/);
    await rejectsWith(
      place({ side: undefined }),
      'invalid_argument',
      /side: must be SIDE_BUY or SIDE_SELL/,
    );
    await rejectsWith(
      place({ type: 'market', timeInForce: 'GTC' }),
      'invalid_argument',
      /TIME_IN_FORCE_IOC or TIME_IN_FORCE_FOK/,
    );
    await rejectsWith(
      place({ clientOrderId: '' }),
      'invalid_argument',
      /client_order_id: is required/,
    );
    await rejectsWith(
      place({ postOnly: true, timeInForce: 'IOC' }),
      'invalid_argument',
      /post_only/,
    );

    const { rows } = await harness.postgres.query('SELECT 1 FROM orders WHERE user_id = $1', [
      alice,
    ]);
    assert.equal(rows.length, 0);
    assert.deepEqual((await harness.balances(alice)).USD, { available: DEMO.USD, reserved: 0n });
  });

  test('a price off the tick is INVALID_ARGUMENT', async () => {
    const tick = new OrdersHarness({
      markets: [
        {
          shard: 's',
          spec: { symbol: 'BTC-USD', tickSize: 5, lotSize: 2, minQuantity: 2, maxQuantity: 100 },
          baseAsset: 'BTC',
          quoteAsset: 'USD',
          quoteMinorPerTickLot: 1,
          baseMinorPerLot: 1,
        },
      ],
    });
    await tick.start();
    try {
      const alice = await tick.user();
      await rejectsWith(
        tick.orders.orders.place(alice, limit({ price: 1_001n })),
        'invalid_argument',
        /multiple of the tick size 5/,
      );
      await rejectsWith(
        tick.orders.orders.place(alice, limit({ price: 1_000n, quantity: 3n })),
        'invalid_argument',
        /multiple of the lot size 2/,
      );
    } finally {
      await tick.stop();
    }
  });

  test('an order the balance cannot cover is FAILED_PRECONDITION and writes nothing', async () => {
    const poor = await harness.user({ USD: 1_000n });

    await rejectsWith(
      harness.orders.orders.place(poor, limit({ price: 1_000n, quantity: 2n })),
      'failed_precondition',
      /insufficient USD: the order needs 20.00 USD \(2000 cents\) available, you have 10.00 USD \(1000 cents\)/,
    );
    await rejectsWith(
      harness.orders.orders.place(poor, limit({ side: 'sell', price: 1_000n, quantity: 1n })),
      'failed_precondition',
      /insufficient BTC/,
    );
    const { rows } = await harness.postgres.query('SELECT 1 FROM orders WHERE user_id = $1', [
      poor,
    ]);
    assert.equal(rows.length, 0);
  });

  test('a post-only order that would take is FAILED_PRECONDITION', async () => {
    const maker = await harness.user();
    const taker = await harness.user();
    await harness.orders.orders.place(maker, limit({ side: 'sell', price: 90_000n, quantity: 1n }));

    await rejectsWith(
      harness.orders.orders.place(taker, limit({ price: 90_000n, quantity: 1n, postOnly: true })),
      'failed_precondition',
    );
  });

  test('cancel releases the reservation; a second cancel is FAILED_PRECONDITION', async () => {
    const alice = await harness.user();
    const { order } = await harness.orders.orders.place(alice, limit({ price: 2_000n }));

    const cancelled = await harness.orders.orders.cancel(alice, { orderId: String(order.id) });

    assert.equal(cancelled.order.status, 'canceled');
    assert.match(cancelled.order.reason, /canceled by the user/);
    assert.deepEqual((await harness.balances(alice)).USD, { available: DEMO.USD, reserved: 0n });
    await rejectsWith(
      harness.orders.orders.cancel(alice, { orderId: String(order.id) }),
      'failed_precondition',
      /is canceled/,
    );
  });

  test("another user's order is NOT_FOUND for get, cancel and amend", async () => {
    const alice = await harness.user();
    const mallory = await harness.user();
    const { order } = await harness.orders.orders.place(alice, limit({ price: 3_000n }));
    const id = String(order.id);

    await rejectsWith(harness.orders.orders.get(mallory, { orderId: id }), 'not_found');
    await rejectsWith(harness.orders.orders.cancel(mallory, { orderId: id }), 'not_found');
    await rejectsWith(
      harness.orders.orders.amend(mallory, { orderId: id, quantity: 1n }),
      'not_found',
    );
    await rejectsWith(harness.orders.orders.get(alice, { orderId: '999999999' }), 'not_found');
    await rejectsWith(harness.orders.orders.get(alice, { orderId: 'abc' }), 'invalid_argument');
  });

  test('amend moves the reservation with the new price and total quantity', async () => {
    const alice = await harness.user();
    const { order } = await harness.orders.orders.place(
      alice,
      limit({ price: 4_000n, quantity: 2n }),
    );

    const amended = await harness.orders.orders.amend(alice, {
      orderId: String(order.id),
      price: 5_000n,
      quantity: 3n,
    });

    assert.equal(amended.order.price, 5_000);
    assert.equal(amended.order.quantity, 3);
    assert.deepEqual((await harness.balances(alice)).USD, {
      available: DEMO.USD - 15_000n,
      reserved: 15_000n,
    });
    await rejectsWith(
      harness.orders.orders.amend(alice, { orderId: String(order.id), price: 5_000n }),
      'invalid_argument',
      /change/,
    );
    await rejectsWith(
      harness.orders.orders.amend(alice, { orderId: String(order.id) }),
      'invalid_argument',
    );
  });

  test('a market buy spends no more than the asks it takes', async () => {
    const seller = await harness.user();
    const buyer = await harness.user();
    await harness.orders.orders.place(
      seller,
      limit({ side: 'sell', price: 100_000n, quantity: 1n }),
    );
    await harness.orders.orders.place(
      seller,
      limit({ side: 'sell', price: 100_010n, quantity: 1n }),
    );

    const { order, fills } = await harness.orders.orders.place(
      buyer,
      limit({ type: 'market', timeInForce: 'IOC', price: 0n, quantity: 2n }),
    );

    assert.equal(order.status, 'filled');
    assert.equal(
      fills.reduce((sum, f) => sum + f.quantity, 0),
      2,
    );
    const spent = fills.reduce((sum, f) => sum + BigInt(f.price * f.quantity), 0n);
    assert.deepEqual((await harness.balances(buyer)).USD, {
      available: DEMO.USD - spent,
      reserved: 0n,
    });
  });

  test('lists orders newest first, filtered and paginated', async () => {
    const alice = await harness.user();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await harness.orders.orders.place(alice, limit({ price: BigInt(100 + i) }))).order.id,
      );
    }
    await harness.orders.orders.cancel(alice, { orderId: String(ids[0]) });

    const first = await harness.orders.orders.list(alice, {
      symbol: 'BTC-USD',
      statuses: ['new'],
      pageSize: 2,
      pageToken: '',
    });
    const second = await harness.orders.orders.list(alice, {
      symbol: 'BTC-USD',
      statuses: ['new'],
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    const cancelled = await harness.orders.orders.list(alice, {
      symbol: '',
      statuses: ['canceled'],
      pageSize: 0,
      pageToken: '',
    });

    assert.deepEqual(
      first.orders.map((o) => o.id),
      [ids[4], ids[3]],
    );
    assert.deepEqual(
      second.orders.map((o) => o.id),
      [ids[2], ids[1]],
    );
    assert.equal(second.nextPageToken, '');
    assert.deepEqual(
      cancelled.orders.map((o) => o.id),
      [ids[0]],
    );
  });

  test('the relay publishes execution reports and balance updates with contiguous per-stream seqs', async () => {
    const alice = await harness.user();
    await harness.orders.orders.place(alice, limit({ price: 500n }));
    await harness.orders.orders.place(alice, limit({ price: 501n }));

    // The background relay was woken by the commits; wait until it has caught up.
    for (let i = 0; i < 100 && (await harness.orders.relay.measure()).pending > 0; i++) {
      await harness.orders.relay.publishOnce();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const entries = await harness.orders.streamLog.read(`orders.${alice}`, 0, 10);

    assert.deepEqual(
      entries.map((e) => e.seq),
      [1, 2, 3, 4],
    );
    // Each order's execution report, then the balances it changed, as they stand after it.
    const payloads = entries.map((e) => JSON.parse(e.payload) as Record<string, unknown>);
    assert.deepEqual(
      payloads.map((p) => p.type),
      ['order', 'balances', 'order', 'balances'],
    );
    assert.equal((payloads[2] as { order: { status: string } }).order.status, 'new');
    const usd = (payloads[3] as { balances: { asset: string; reserved: string }[] }).balances.find(
      (b) => b.asset === 'USD',
    );
    assert.equal(usd?.reserved, String((await harness.balances(alice)).USD?.reserved));
    assert.equal((await harness.orders.relay.measure()).pending, 0);
  });
});

describe('an amend on a book of its own', () => {
  const fresh = new OrdersHarness();
  before(() => fresh.start());
  after(() => fresh.stop());

  test('an amend that breaks a rule is refused with its status and changes nothing', async () => {
    const alice = await fresh.user({ USD: 10_000n, BTC: 0n });
    const bob = await fresh.user();
    const { order } = await fresh.orders.orders.place(
      alice,
      limit({ price: 2_000n, quantity: 3n }),
    );
    // Bob sells one lot into it (the only bid of this book): filled 1 of 3.
    await fresh.orders.orders.place(bob, limit({ side: 'sell', price: 2_000n, quantity: 1n }));
    const orderId = String(order.id);
    assert.equal((await fresh.orders.orders.get(alice, { orderId })).order.filled, 1);
    const before = [await fresh.orders.orders.get(alice, { orderId }), await fresh.balances(alice)];

    await rejectsWith(
      fresh.orders.orders.amend(alice, { orderId, quantity: 10n }),
      'failed_precondition',
      /insufficient USD/,
    );
    await rejectsWith(
      fresh.orders.orders.amend(alice, { orderId, quantity: 1n }),
      'failed_precondition',
      /filled/,
    );
    await rejectsWith(
      fresh.orders.orders.amend(alice, { orderId, quantity: 0n }),
      'invalid_argument',
      /quantity/,
    );

    assert.deepEqual(
      [await fresh.orders.orders.get(alice, { orderId }), await fresh.balances(alice)],
      before,
    );
  });
});

describe('a batch on the wire', () => {
  const harness = new OrdersHarness({
    batching: { ...DEFAULT_ORDERS_SETTINGS.batching, connections: 1 },
  });
  /** Socket writes (system calls) of the shard's connection. */
  let writes = 0;
  before(async () => {
    await harness.start();
    const connect = harness.postgres.connectDedicated.bind(harness.postgres);
    harness.postgres.connectDedicated = async (options) => {
      const client = await connect(options);
      countWrites(client.connection.stream);
      return client;
    };
    // A new leader, whose connection is counted from the batch that publishes its tickers on.
    await harness.restart();
  });
  after(() => harness.stop());

  function countWrites(socket: Duplex): void {
    const write = socket._write.bind(socket);
    const writev = socket._writev?.bind(socket);
    socket._write = (...args) => {
      writes += 1;
      write(...args);
    };
    if (writev !== undefined) {
      socket._writev = (...args) => {
        writes += 1;
        writev(...args);
      };
    }
  }

  test('costs two socket writes: BEGIN with the read, then the write with COMMIT', async () => {
    const alice = await harness.user();
    await harness.orders.orders.place(alice, limit()); // warms the connection up
    writes = 0;

    await harness.orders.orders.place(alice, limit());
    await harness.orders.orders.place(alice, limit({ side: 'sell', price: 65_000n }));

    assert.equal(writes, 4);
  });
});

describe('a batch behind one that is still committing', () => {
  const fresh = new OrdersHarness();
  before(async () => {
    await fresh.start();
    // Holds the COMMIT of a batch that places a "slow-commit" order for 300 ms.
    await fresh.postgres.query(`
      CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.client_order_id LIKE 'slow-commit%' THEN PERFORM pg_sleep(0.3); END IF;
        RETURN NULL;
      END $$`);
    await fresh.postgres.query(`
      CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON orders
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`);
  });
  after(() => fresh.stop());

  test('stores its trade with an order the batch ahead placed', async () => {
    const seller = await fresh.user();
    const buyer = await fresh.user();
    const stepSum = async (step: string) =>
      (await metricValue(
        fresh.registry,
        'engine_batch_step_seconds',
        { step },
        'engine_batch_step_seconds_sum',
      )) ?? 0;
    const before = { wait: await stepSum('wait'), commit: await stepSum('commit') };
    const ask = fresh.orders.orders.place(
      seller,
      limit({ clientOrderId: 'slow-commit-1', side: 'sell', price: 65_000n, quantity: 2n }),
    );
    // The ask's batch has written and waits on its COMMIT: the bid goes in the next batch,
    // which trades with the ask in memory and must update the ask's row once it is visible.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const bid = await fresh.orders.orders.place(buyer, limit({ price: 65_000n, quantity: 2n }));
    const placed = await ask;

    assert.equal(bid.order.status, 'filled');
    const stored = await fresh.orders.orders.get(seller, { orderId: String(placed.order.id) });
    assert.equal(stored.order.status, 'filled');
    assert.equal(stored.order.filled, 2);
    assert.deepEqual((await fresh.balances(seller)).BTC, {
      available: DEMO.BTC - 2_000_000n,
      reserved: 0n,
    });
    // The held COMMIT shows where it went: in the ask's commit step, and in the bid's wait
    // for it (the bid came 100 ms into the ask's 300 ms COMMIT).
    assert.ok((await stepSum('commit')) - before.commit >= 0.25, 'commit step');
    assert.ok((await stepSum('wait')) - before.wait >= 0.1, 'wait step');
  });
});

describe('rows another shard writes at the same moment', () => {
  // A book of its own: resting orders of other tests would trade with this one's.
  const fresh = new OrdersHarness();
  before(() => fresh.start());
  after(() => fresh.stop());

  test('a balance row it creates: the batch waits, then adds its credit to it', async () => {
    // A seller with no USD row yet: the trade creates it. Another shard can create it in the
    // same moment (the seller's first sale on two markets that share USD): stood in for by a
    // transaction of the test's that inserts the row and commits once the batch waits on it.
    const seller = await fresh.user({ BTC: DEMO.BTC });
    const buyer = await fresh.user();
    await fresh.orders.orders.place(seller, limit({ side: 'sell', price: 900n, quantity: 1n }));
    const other = await fresh.postgres.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        "INSERT INTO balances (user_id, asset, available) VALUES ($1, 'USD', 500)",
        [seller],
      );
      const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid;

      const buy = fresh.orders.orders.place(buyer, limit({ price: 900n, quantity: 1n }));
      await eventually(async () => {
        const waiting = await fresh.postgres.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
          [pid],
        );
        return waiting.rows[0]?.n === 1;
      });
      await other.query('COMMIT');

      assert.equal((await buy).order.status, 'filled');
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
    }
    // 500 inserted by the other writer, plus 1 lot × 900 ticks × 1 cent from the sale.
    assert.deepEqual((await fresh.balances(seller)).USD, { available: 1_400n, reserved: 0n });
  });

  test('an order with the same client order id: the batch runs again and replays that order', async () => {
    const alice = await fresh.user();
    const bob = await fresh.user();
    // A series from the start (rate() needs one to see the first increase).
    assert.equal(await metricValue(fresh.registry, 'engine_commands_retried_total'), 0);
    const other = await fresh.postgres.pool.connect();
    try {
      // Alice's order of that id, the one she repeats, as another shard stores it (canceled:
      // it holds nothing).
      await other.query('BEGIN');
      const { rows } = await other.query<{ id: string; pid: number }>(
        `INSERT INTO orders (id, user_id, client_order_id, symbol, side, type, time_in_force,
           price, reserve_price, quantity, filled, status, post_only, created_at, updated_at)
         VALUES (nextval('order_ids'), $1, 'twice', 'BTC-USD', 'buy', 'limit', 'GTC', 65000,
           65000, 2, 0, 'canceled', false, now(), now())
         RETURNING id::text, pg_backend_pid() AS pid`,
        [alice],
      );
      const stored = rows[0];
      assert.ok(stored !== undefined);

      // One batch: Alice's repeat and Bob's order.
      const repeat = fresh.orders.orders.place(alice, limit({ clientOrderId: 'twice' }));
      const bystander = fresh.orders.orders.place(bob, limit({ price: 64_000n }));
      await eventually(async () => {
        const waiting = await fresh.postgres.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
          [stored.pid],
        );
        return waiting.rows[0]?.n === 1;
      });
      await other.query('COMMIT');

      assert.equal((await bystander).order.status, 'new');
      const replayed = await repeat;
      assert.equal(String(replayed.order.id), stored.id);
      assert.equal(replayed.order.status, 'canceled');
      assert.equal(await metricValue(fresh.registry, 'engine_commands_retried_total'), 2);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
    }
  });

  test('a deadlock with another writer: the batch runs again instead of failing', async () => {
    const first = await fresh.user();
    const second = await fresh.user(); // a larger id: its rows are locked after the first's
    const other = await fresh.postgres.pool.connect();
    try {
      // Another writer holds the second user's USD row, so the batch stops there, holding
      // the first user's rows; then it asks for one of those: a cycle PostgreSQL breaks by
      // aborting the batch, which waited first (after deadlock_timeout, 1 s by default).
      await other.query('BEGIN');
      await other.query("SELECT 1 FROM balances WHERE user_id = $1 AND asset = 'USD' FOR UPDATE", [
        second,
      ]);
      const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid;
      const places = [first, second].map((user) =>
        fresh.orders.orders.place(user, limit({ price: 63_000n })),
      );
      await eventually(async () => {
        const waiting = await fresh.postgres.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
          [pid],
        );
        return waiting.rows[0]?.n === 1;
      });
      const before = (await metricValue(fresh.registry, 'engine_commands_retried_total')) ?? 0;
      await other.query("SELECT 1 FROM balances WHERE user_id = $1 AND asset = 'USD' FOR UPDATE", [
        first,
      ]);
      await other.query('COMMIT');

      for (const placed of await Promise.all(places)) assert.equal(placed.order.status, 'new');
      assert.equal(await metricValue(fresh.registry, 'engine_commands_retried_total'), before + 2);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
    }
  });
});

describe('a command the database refuses, in a batch with others', () => {
  // A book of its own, and a shard reached directly: below the use cases' validation, as a
  // command with data PostgreSQL cannot store would arrive if that validation missed a case.
  const capture = captureLogger();
  const fresh = new OrdersHarness({}, { logger: capture.logger });
  before(() => fresh.start());
  after(() => fresh.stop());

  const place = (userId: number, clientOrderId: string, price: number): OrderCommand => ({
    kind: 'place',
    userId,
    clientOrderId,
    symbol: 'BTC-USD',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    price,
    quantity: 1,
    postOnly: false,
  });

  test('fails alone: the other commands of its batch are committed and acknowledged', async () => {
    const users = await Promise.all(Array.from({ length: 7 }, () => fresh.user()));
    const shard = fresh.orders.shards.get('shard-0');
    assert.ok(shard !== undefined);
    const good = users.map((userId, i) => place(userId, `good-${i}`, 1_000 + i));
    // Refused in the batch's read (the idempotency lookup): PostgreSQL text cannot hold NUL.
    const nul = place(users[0] ?? 0, 'nul\u0000x', 500);
    // Refused in the batch's write: longer than the column's CHECK allows.
    const huge = place(users[1] ?? 0, randomBytes(8_000).toString('hex'), 500);
    const failedBefore =
      (await metricValue(fresh.registry, 'engine_batches_total', { result: 'failed' })) ?? 0;

    // Submitted together: one batch.
    const settled = await Promise.allSettled(
      [...good.slice(0, 3), nul, ...good.slice(3, 5), huge, ...good.slice(5)].map((command) =>
        shard.submit(command),
      ),
    );

    for (const [outcome, sqlState, field] of [
      [settled[3], '22021', undefined],
      [settled[6], '23514', 'client_order_id'],
    ] as const) {
      assert.equal(outcome?.status, 'rejected');
      const error: unknown = outcome.reason;
      assert.ok(error instanceof DomainError, String(error));
      assert.equal(error.code, 'invalid_argument', error.message);
      assert.equal(error.field, field);
      assert.match(error.message, new RegExp(`could not be stored \\(SQLSTATE ${sqlState}\\)`));
      assert.ok(error.message.length < 300, 'the refused value is not echoed');
      assert.equal(
        await metricValue(fresh.registry, 'engine_commands_refused_total', {
          sqlstate: sqlState,
          code: 'invalid_argument',
        }),
        1,
      );
      assert.ok(
        capture.lines.some(
          (line) =>
            line.msg === 'engine command refused by the database; failed alone' &&
            line.level === 40 &&
            line.sql_state === sqlState,
        ),
        `a warning names SQLSTATE ${sqlState}`,
      );
    }
    const acknowledged = settled.filter((_, i) => i !== 3 && i !== 6);
    for (const outcome of acknowledged) {
      assert.equal(
        outcome.status,
        'fulfilled',
        String(outcome.status === 'rejected' && outcome.reason),
      );
      assert.equal(outcome.value.result.order.status, 'new');
    }
    for (const [i, userId] of users.entries()) {
      const { orders } = await fresh.orders.orders.list(userId, {
        symbol: '',
        statuses: [],
        pageSize: 10,
        pageToken: '',
      });
      assert.deepEqual(
        orders.map((order) => order.clientOrderId),
        [`good-${i}`],
        'durable, and nothing of the refused commands',
      );
      assert.equal((await fresh.balances(userId)).USD?.reserved, BigInt(1_000 + i));
    }
    assert.ok(
      ((await metricValue(fresh.registry, 'engine_commands_isolated_total')) ?? 0) >= good.length,
      'the neighbours were isolated from the refused commands',
    );
    assert.ok(
      ((await metricValue(fresh.registry, 'engine_batches_total', { result: 'failed' })) ?? 0) >
        failedBefore,
    );
  });

  test('the shard goes on committing after it', async () => {
    const alice = await fresh.user();

    const { order } = await fresh.orders.orders.place(alice, limit({ price: 2_000n }));

    assert.equal(order.status, 'new');
  });

  test('a broken constraint the engine should have kept is INTERNAL, counted apart from bad data', async () => {
    // An invariant of the platform's own (not a CHECK on an input column), as a bug breaks one.
    await fresh.postgres.query(
      'ALTER TABLE orders ADD CONSTRAINT test_platform_invariant CHECK (price <> 777)',
    );
    try {
      const bob = await fresh.user();
      const shard = fresh.orders.shards.get('shard-0');
      assert.ok(shard !== undefined);

      const refused = await shard.submit(place(bob, 'breaks-invariant', 777)).then(
        () => assert.fail('the command was committed'),
        (error: unknown) => error,
      );

      assert.ok(refused instanceof DomainError, String(refused));
      assert.equal(refused.code, 'internal');
      assert.equal(
        await metricValue(fresh.registry, 'engine_commands_refused_total', {
          sqlstate: '23514',
          code: 'internal',
        }),
        1,
      );
      assert.ok(
        capture.lines.some(
          (line) =>
            line.msg === 'engine command refused by the database; failed alone' &&
            line.level === 50,
        ),
        'logged as an error',
      );
    } finally {
      await fresh.postgres.query('ALTER TABLE orders DROP CONSTRAINT test_platform_invariant');
    }
  });
});

describe('identical places in one batch', () => {
  const fresh = new OrdersHarness();
  before(() => fresh.start());
  after(() => fresh.stop());

  test('one is accepted; the others are replays carrying the original order and its fills', async () => {
    const seller = await fresh.user();
    const buyer = await fresh.user();
    await fresh.orders.orders.place(seller, limit({ side: 'sell', price: 1_000n, quantity: 1n }));
    const shard = fresh.orders.shards.get('shard-0');
    assert.ok(shard !== undefined);
    const command: OrderCommand = {
      kind: 'place',
      userId: buyer,
      clientOrderId: 'ten-at-once',
      symbol: 'BTC-USD',
      side: 'buy',
      type: 'limit',
      timeInForce: 'GTC',
      price: 1_000,
      quantity: 2,
      postOnly: false,
    };

    // Submitted together: one batch.
    const answers = await Promise.all(Array.from({ length: 10 }, () => shard.submit(command)));

    const accepted = answers.filter((answer) => !answer.replayed);
    assert.equal(accepted.length, 1);
    const original = accepted[0]?.result;
    assert.equal(original?.order.status, 'partially_filled');
    assert.equal(original.fills.length, 1);
    for (const answer of answers.filter((a) => a.replayed)) {
      assert.equal(answer.result.order.id, original.order.id);
      assert.equal(answer.result.order.status, 'partially_filled');
      assert.deepEqual(answer.result.fills, original.fills);
    }
    const stored = await fresh.orders.orders.get(buyer, { orderId: String(original.order.id) });
    assert.deepEqual(stored.fills, original.fills);
  });
});
