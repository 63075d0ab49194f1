import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PostgresOrderReader } from '../../src/adapters/orders/order-reader.postgres.js';
import { runMigrations, type Postgres } from '../../src/adapters/postgres/index.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const database = new PostgresTestSchema();
let postgres: Postgres;
let userId: number;

before(async () => {
  postgres = database.create();
  await runMigrations({ pool: postgres.pool, logger: silentLogger(), schema: database.schema });
  const { rows } = await postgres.query<{ id: string }>(
    `INSERT INTO users (username, password_hash) VALUES ('reader', 'x') RETURNING id::text`,
  );
  userId = Number(rows[0]?.id);
  // Ids and trade ids on both sides of a digit boundary: ordered as text, 10 and 11 would
  // come after 9.
  await postgres.query(
    `INSERT INTO orders (id, user_id, client_order_id, symbol, side, type, time_in_force, price,
       reserve_price, quantity, filled, status, post_only, created_at, updated_at)
     SELECT g, $1, 'c' || g, 'BTC-USD', 'buy', 'limit', 'GTC', 100, 100, 5, 0, 'new', false,
       now(), now()
     FROM generate_series(8, 11) g`,
    [userId],
  );
  await postgres.query(
    `INSERT INTO fills (symbol, trade_id, price, quantity, taker_side, maker_order_id,
       taker_order_id, created_at)
     VALUES ('BTC-USD', 10, 100, 1, 'sell', 8, 9, now()),
            ('BTC-USD', 9, 100, 1, 'sell', 8, 10, now())`,
  );
});
after(() => database.cleanup());

test('pages of orders run from the newest id down, with none skipped or repeated', async () => {
  const reader = new PostgresOrderReader(postgres);
  const all = { symbol: '', statuses: [] };

  const first = await reader.list(userId, all, 2);
  const second = await reader.list(userId, all, 2, first.at(-1)?.id);

  assert.deepEqual(
    first.map((order) => order.id),
    [11, 10],
  );
  assert.deepEqual(
    second.map((order) => order.id),
    [9, 8],
  );
});

test("an order's fills come in trade order", async () => {
  const reader = new PostgresOrderReader(postgres);

  const result = await reader.getByClientOrderId(userId, 'c8');

  assert.deepEqual(
    result?.result.fills.map((fill) => fill.tradeId),
    [9, 10],
  );
});
