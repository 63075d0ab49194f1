import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PoolClient } from 'pg';
import {
  balancesPlaceholder,
  type BatchPlan,
  type MutableOrder,
} from '../../src/adapters/orders/batch-plan.js';
import {
  bumpEpoch,
  openBatch,
  prepareBatchSession,
  writePlan,
} from '../../src/adapters/orders/shard-store.postgres.js';
import { runMigrations, type Postgres } from '../../src/adapters/postgres/index.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const database = new PostgresTestSchema();
const SHARD = 'shard-plans';
const USERS = 2_000;
const ORDERS = 10_000;
let postgres: Postgres;
let epoch: number;

before(async () => {
  postgres = database.create();
  await runMigrations({ pool: postgres.pool, logger: silentLogger(), schema: database.schema });
  epoch = await bumpEpoch(postgres, SHARD);
});
after(() => database.cleanup());

const order = (id: number, userId: number, now: Date): MutableOrder => ({
  id,
  userId,
  clientOrderId: `c${id}`,
  symbol: 'BTC-USD',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  price: 100,
  reservePrice: 100,
  quantity: 5,
  filled: 1,
  status: 'partially_filled',
  postOnly: false,
  reason: '',
  priority: id,
  createdAt: now,
  updatedAt: now,
});

const NO_BOOKS = new Map([['BTC-USD', { nextTradeId: 1, nextPriority: 1, lastTradePrice: 0 }]]);

/** A batch that only publishes `messages`. */
const messagesOnly = (messages: BatchPlan['messages']): BatchPlan => ({
  outcomes: [],
  inserted: new Map(),
  updated: new Map(),
  fills: [],
  deltas: new Map(),
  messages,
  completeMessages: messages.length,
  touchedSymbols: new Set(),
  closedOwners: [],
  trades: 0,
  now: new Date(),
});

/** One batch that places, updates an order and moves balances: every statement of a batch. */
async function runBatch(client: PoolClient, userId: number, existingOrderId?: number) {
  const now = new Date();
  const opening = await openBatch(
    client,
    SHARD,
    epoch,
    [{ userId, clientOrderId: `new-${String(now.getTime())}-${String(Math.random())}` }],
    [{ userId, asset: 'USD' }],
  );
  assert.equal(opening.fenced, true);
  const placed = order(opening.orderIds[0] ?? 0, userId, now);
  const plan: BatchPlan = {
    outcomes: [],
    inserted: new Map([[placed.id, placed]]),
    updated: new Map(
      existingOrderId === undefined ? [] : [[existingOrderId, order(existingOrderId, userId, now)]],
    ),
    fills: [],
    deltas: new Map([['k', { userId, asset: 'USD', available: -500n, reserved: 500n }]]),
    messages: [
      { stream: `orders.${String(userId)}`, payload: '{}' },
      { stream: `orders.${String(userId)}`, payload: balancesPlaceholder(userId) },
    ],
    completeMessages: 1,
    touchedSymbols: new Set(['BTC-USD']),
    closedOwners: [],
    trades: 0,
    now,
  };
  await writePlan(client, plan, NO_BOOKS);
}

/**
 * Sequential scans of orders and balances counted by this backend and not yet flushed to the
 * shared statistics (this transaction's, and possibly earlier ones'): compare two readings.
 */
const seqScans = async (client: PoolClient) => {
  const { rows } = await client.query<{ relname: string; seq_scan: string }>(
    `SELECT relname, seq_scan::text FROM pg_stat_xact_user_tables
     WHERE schemaname = current_schema() AND relname IN ('orders', 'balances')`,
  );
  return new Map(rows.map((row) => [row.relname, Number(row.seq_scan)]));
};

test('a batch reads orders and balances by key, also with statements prepared on empty tables', async () => {
  const client = await postgres.pool.connect();
  try {
    await prepareBatchSession(client);
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO users (username, password_hash) SELECT 'u' || g, 'x'
       FROM generate_series(1, $1) g RETURNING id::text`,
      [USERS],
    );
    const first = Number(rows[0]?.id);
    await client.query(
      `INSERT INTO balances (user_id, asset, available) VALUES ($1, 'USD', 1000000)`,
      [first],
    );
    // Enough runs on near-empty tables for PostgreSQL to settle on a plan for each statement.
    for (let i = 0; i < 8; i += 1) {
      await client.query('BEGIN');
      await runBatch(client, first);
      await client.query('ROLLBACK');
    }
    // The tables grow past the size where reading them whole could be cheaper than by key.
    await client.query(
      `INSERT INTO balances (user_id, asset, available)
       SELECT id, a, 1000000 FROM users, unnest(ARRAY['USD', 'BTC']) a
       ON CONFLICT DO NOTHING`,
    );
    await client.query(
      `INSERT INTO orders (id, user_id, client_order_id, symbol, side, type, time_in_force,
         price, reserve_price, quantity, filled, status, post_only, created_at, updated_at)
       SELECT g, $1 + g % $2, 'old' || g, 'BTC-USD', 'buy', 'limit', 'GTC', 100, 100, 5, 0,
         'new', false, now(), now()
       FROM generate_series(1, $3) g`,
      [first, USERS, ORDERS],
    );
    await client.query(`SELECT setval('order_ids', $1)`, [ORDERS]);

    await client.query('BEGIN');
    const before = await seqScans(client);
    await runBatch(client, first, ORDERS);
    const after = await seqScans(client);
    await client.query('ROLLBACK');

    const scanned = ['orders', 'balances'].filter(
      (table) => (after.get(table) ?? 0) > (before.get(table) ?? 0),
    );
    assert.deepEqual(scanned, [], 'a batch read whole tables');
  } finally {
    client.release();
  }
});

test('a batch numbers each stream on from its head, in batch order, with payloads as written', async () => {
  const client = await postgres.pool.connect();
  const tricky = JSON.stringify({ text: 'quote " backslash \\ brace {,} ünïcødé \n', n: -1 });
  try {
    await writePlan(client, messagesOnly([{ stream: 'seq.b', payload: '{"b":1}' }]), NO_BOOKS);
    await writePlan(
      client,
      messagesOnly([
        { stream: 'seq.a', payload: '{"a":1}' },
        { stream: 'seq.b', payload: '{"b":2}' },
        { stream: 'seq.a', payload: tricky },
        { stream: 'seq.c', payload: '[1, 2]' },
        { stream: 'seq.a', payload: '{"a":3}' },
      ]),
      NO_BOOKS,
    );
    await writePlan(client, messagesOnly([]), NO_BOOKS);

    const { rows } = await client.query<{ streams: string[]; seqs: string[]; payloads: string[] }>(
      `SELECT streams, seqs::text[] AS seqs, payloads FROM outbox
       WHERE streams[1] LIKE 'seq.%' ORDER BY id`,
    );
    assert.deepEqual(rows, [
      { streams: ['seq.b'], seqs: ['1'], payloads: ['{"b":1}'] },
      {
        streams: ['seq.a', 'seq.b', 'seq.a', 'seq.c', 'seq.a'],
        seqs: ['1', '2', '2', '1', '3'],
        payloads: ['{"a":1}', '{"b":2}', tricky, '[1, 2]', '{"a":3}'],
      },
    ]);
  } finally {
    client.release();
  }
});

test('a batch begins while the one ahead has yet to commit; a new leader still fences both out', async () => {
  const shard = 'shard-fence';
  const held = await bumpEpoch(postgres, shard);
  const [ahead, behind, taker] = await Promise.all([
    postgres.pool.connect(),
    postgres.pool.connect(),
    postgres.pool.connect(),
  ]);
  const open = (client: PoolClient, at: number) =>
    openBatch(client, shard, at, [{ userId: 1, clientOrderId: 'x' }], []);
  try {
    await ahead.query('BEGIN');
    assert.equal((await open(ahead, held)).fenced, true);
    // Batch N+1 reads while N is still open (committing): it must not queue behind N's COMMIT.
    await behind.query('BEGIN');
    await behind.query(`SET LOCAL lock_timeout = '500ms'`);
    assert.equal((await open(behind, held)).fenced, true);

    // A new leader's epoch bump waits for both batches, then fences the old epoch out.
    let bumped = false;
    const bump = bumpEpoch(taker, shard).then((epoch) => {
      bumped = true;
      return epoch;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(bumped, false, 'the epoch bump went past batches still running');
    await ahead.query('COMMIT');
    await behind.query('COMMIT');
    assert.equal(await bump, held + 1);
    await ahead.query('BEGIN');
    assert.equal((await open(ahead, held)).fenced, false);
    await ahead.query('ROLLBACK');
  } finally {
    // Closed, not returned to the pool: a failed step may have left a transaction open.
    for (const client of [ahead, behind, taker]) client.release(true);
  }
});
