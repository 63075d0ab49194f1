import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { MEMORY_DATA_DIR, startEmbeddedPostgres } from '../../src/adapters/postgres/embedded.js';
import type { EmbeddedPostgres } from '../../src/adapters/postgres/embedded.js';
import { createPostgres, runMigrations, type Postgres } from '../../src/adapters/postgres/index.js';
import { systemClock } from '../../src/domain/clock.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import { createOrders, DEFAULT_ORDERS_SETTINGS, type Orders } from '../../src/wiring/orders.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const logger = silentLogger();

const order = (clientOrderId: string, side: 'buy' | 'sell', price: bigint): PlaceOrderRequest => ({
  clientOrderId,
  symbol: 'BTC-USD',
  side,
  type: 'limit',
  timeInForce: 'GTC',
  price,
  quantity: 1n,
  postOnly: false,
});

describe('orders on embedded PostgreSQL (PGlite)', () => {
  let server: EmbeddedPostgres;
  let db: Postgres;
  let orders: Orders;

  before(async () => {
    server = await startEmbeddedPostgres({ dataDir: MEMORY_DATA_DIR, maxConnections: 4, logger });
    db = createPostgres({
      connectionString: server.connectionString,
      max: 4,
      healthCheckIntervalMs: 0,
      logger,
      registry: new Registry(),
    });
    await runMigrations({ pool: db.pool, logger });
    orders = createOrders(
      {
        ...DEFAULT_ORDERS_SETTINGS,
        batching: { ...DEFAULT_ORDERS_SETTINGS.batching, connections: 1 },
      },
      {
        postgres: db,
        logger,
        registry: new Registry(),
        clock: systemClock,
      },
    );
    await orders.start();
  });
  after(async () => {
    for (const step of orders.closeSteps) await step.run();
    await db.close();
    await server.close();
  });

  test('places, matches and settles with the same migrations and SQL', async () => {
    const users: number[] = [];
    for (const name of ['ann', 'ben']) {
      const { rows } = await db.query<{ id: string }>(
        "INSERT INTO users (username, password_hash) VALUES ($1, 'x') RETURNING id::text",
        [name],
      );
      const id = Number(rows[0]?.id);
      await db.query(
        "INSERT INTO balances (user_id, asset, available) VALUES ($1, 'USD', 1000000), ($1, 'BTC', 100000000)",
        [id],
      );
      users.push(id);
    }
    const [ann = 0, ben = 0] = users;

    await orders.orders.place(ann, order('a1', 'sell', 500n));
    const { order: taken, fills } = await orders.orders.place(ben, order('b1', 'buy', 600n));

    assert.equal(taken.status, 'filled');
    assert.equal(fills[0]?.price, 500);
    const balances = await orders.accounts.getBalances(ben);
    assert.deepEqual(
      balances.map((b) => [b.asset, b.available, b.reserved]),
      [
        ['BTC', 101_000_000n, 0n],
        ['USD', 999_500n, 0n],
      ],
    );
  });
});
