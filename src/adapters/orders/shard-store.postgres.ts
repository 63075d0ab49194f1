import type { BookState, OpenOrder } from '../../engine/index.js';
import type { TickerState } from '../../domain/market-data/rolling-ticker.js';
import { TICKER_BUCKET_MS } from '../../domain/market-data/rolling-ticker.js';
import { balanceKey, type BalanceDelta } from '../../domain/orders/balance-ledger.js';
import type { StoredPlace } from '../../domain/orders/order-replay.js';
import type { PoolClient } from 'pg';
import type { Queryable } from '../postgres/index.js';
import { scalarArray, textArray } from '../postgres/array-literal.js';
import {
  bigintColumn,
  booleanColumn,
  columnNames,
  instantColumn,
  namedStatement,
  textColumn,
  type Columns,
} from '../postgres/statement-parameters.js';
import type { BatchPlan, FillRow, MutableOrder, StreamMessage } from './batch-plan.js';
import { clientKey } from './batch-plan.js';
import { withFills } from './order-reader.postgres.js';
import {
  ORDER_COLUMNS,
  PLACED_COLUMNS,
  toOrder,
  toPlacedWith,
  type OrderRow,
  type PlacedRow,
} from './order-rows.js';

/**
 * The SQL of an engine shard. Every statement of a batch is set-based (`unnest` of arrays), so
 * a batch costs the same two round trips (plus BEGIN/COMMIT) whether it holds 1 command or
 * 500. The batch statements are named (prepared once per connection, then only executed):
 * they are large and run hundreds of times a second.
 */

/**
 * The runner's own connection; named statements need the driver's query config. `pipeline`
 * says whether a statement may be sent before the answer to the one before it.
 */
export type BatchClient = Pick<PoolClient, 'query' | 'pipeline'>;

/**
 * Readies one of a runner's own connections: custom plans only. A generic plan made while the
 * tables were small keeps scanning all of `orders` as the table grows (docs/benchmarks.md,
 * `plan_cache_mode`); a custom plan costs a planning pass per batch but reads by key. The
 * idempotency lookup is the exception (`GENERIC_PLANS`). Embedded PGlite shares one session
 * between its connections, where the setting then applies to all of them, harmlessly.
 */
export async function prepareBatchSession(client: BatchClient): Promise<void> {
  await client.query('SET plan_cache_mode = force_custom_plan');
}

/** Takes leadership of a shard: bumps and returns its fencing epoch. */
export async function bumpEpoch(db: Queryable, shard: string): Promise<number> {
  const { rows } = await db.query<{ epoch: string }>(
    `INSERT INTO engine_shards (shard, epoch) VALUES ($1, 1)
     ON CONFLICT (shard) DO UPDATE SET epoch = engine_shards.epoch + 1, updated_at = now()
     RETURNING epoch::text`,
    [shard],
  );
  return Number(rows[0]?.epoch);
}

export interface BatchOpening {
  /** False when another runner has taken the shard since `epoch`: this one must stop writing. */
  readonly fenced: boolean;
  readonly orderIds: number[];
  /** Orders already stored under a (user, client order id) of the batch, by `clientKey`. */
  readonly existing: Map<string, StoredPlace>;
  /** `available` of the locked balance rows, by `balanceKey`. */
  readonly available: Map<string, bigint>;
}

/**
 * The first round trip of a batch: checks the fencing epoch, allocates the order ids, finds
 * client order ids already used, and locks the balance rows of the users that place or amend
 * in this batch, in key order (so two shards locking overlapping users cannot deadlock on
 * them), returning their `available`. Three statements, sent together: the idempotency lookup
 * on a custom plan (the session's), then `GENERIC_PLANS` for the rest of the transaction, then
 * everything else on a generic plan.
 *
 * The fencing row is share-locked until the batch ends: a new leader's epoch bump waits for
 * the batches running, and any batch after it finds the epoch changed. Share locks do not
 * conflict, so a batch reads while the one ahead of it commits (an update of the row would
 * make it wait for that COMMIT and its WAL flush; docs/benchmarks.md, "A batch reads while
 * the one ahead commits"). Two batches holding it at once share it through a multixact; the
 * row's table is a handful of rows, which autovacuum freezes in no time.
 */
export async function openBatch(
  tx: BatchClient,
  shard: string,
  epoch: number,
  places: readonly { userId: number; clientOrderId: string }[],
  balanceKeys: readonly { userId: number; asset: string }[],
): Promise<BatchOpening> {
  const lookup =
    places.length === 0
      ? undefined
      : tx.query<{ existing: OrderJson[] | null }>({
          name: 'engine-find-existing-v2',
          text: `SELECT json_agg(x) AS existing FROM (
               SELECT ${ORDER_COLUMNS}, ${PLACED_COLUMNS}
               FROM unnest($1::bigint[], $2::text[]) AS k(k_user, k_client)
               JOIN orders ON orders.user_id = k.k_user AND orders.client_order_id = k.k_client
             ) x`,
          values: [
            scalarArray(places.map((k) => k.userId)),
            textArray(places.map((k) => k.clientOrderId)),
          ],
        });
  if (!tx.pipeline) await lookup;
  const generic = tx.query(GENERIC_PLANS);
  if (!tx.pipeline) await generic;
  const open = tx.query<{
    fenced: number;
    ids: string[];
    balances: [string, string, string][] | null;
  }>({
    name: 'engine-open-batch-v5',
    text: `WITH f AS (
       SELECT 1 FROM engine_shards WHERE shard = $1 AND epoch = $2 FOR SHARE
     ), b AS (
       SELECT b.user_id, b.asset, b.available
       FROM unnest($4::bigint[], $5::text[]) AS k(k_user, k_asset)
       JOIN balances b ON b.user_id = k.k_user AND b.asset = k.k_asset
       ORDER BY b.user_id, b.asset FOR UPDATE OF b
     )
     SELECT (SELECT count(*)::int FROM f) AS fenced,
       ARRAY(SELECT nextval('order_ids') FROM generate_series(1, $3))::text[] AS ids,
       (SELECT json_agg(json_build_array(user_id::text, asset, available::text)) FROM b)
         AS balances`,
    values: [
      shard,
      epoch,
      places.length,
      scalarArray(balanceKeys.map((k) => k.userId)),
      textArray(balanceKeys.map((k) => k.asset)),
    ],
  });
  const [found, , opened] = await Promise.all([lookup, generic, open]);
  const existing = new Map<string, StoredPlace>();
  for (const json of found?.rows[0]?.existing ?? []) {
    const order = toOrder({
      ...json,
      created_at: new Date(json.created_at),
      updated_at: new Date(json.updated_at),
    });
    // Rare (a retried call), so its fills are read with an extra query.
    existing.set(clientKey(order.userId, order.clientOrderId), {
      result: await withFills({ query: (text, values) => tx.query(text, values) }, order),
      placedWith: toPlacedWith(json),
    });
  }
  const row = opened.rows[0];
  const available = new Map<string, bigint>();
  for (const [userId, asset, amount] of row?.balances ?? []) {
    available.set(balanceKey(Number(userId), asset), BigInt(amount));
  }
  return {
    fenced: row?.fenced === 1,
    orderIds: (row?.ids ?? []).map(Number),
    existing,
    available,
  };
}

type OrderJson = Omit<OrderRow, 'created_at' | 'updated_at'> &
  PlacedRow & {
    created_at: string;
    updated_at: string;
  };

/**
 * A batch's statements after its idempotency lookup run on generic plans, made once per
 * connection: planning cost a pass per batch, on the batch's critical path (docs/benchmarks.md,
 * "The write statement on a generic plan"). Every row they look up is found by primary key, the one
 * index that can serve each lookup, so with sequential scans ruled out while the plans are
 * made, a generic plan is the index plan however small the tables were at the time. The
 * idempotency lookup is the exception and keeps custom plans: it has two candidate indexes,
 * and a generic plan made on an empty table took the one that reads all of a user's orders.
 * Transaction-local: reset at COMMIT.
 */
const GENERIC_PLANS =
  'SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off';

/**
 * The batch's payloads as one JSON array. Each payload is a JSON document already, so joining
 * them needs no escaping; PostgreSQL's `json` type keeps each element's text as it was
 * written, so the outbox stores the payloads unchanged. (As a `text[]` literal, pg escaped
 * every quote of every payload in JS: a fifth of the bytes the server allocated per order.)
 */
const payloadsJson = (messages: readonly StreamMessage[]): string =>
  `[${messages.map((x) => x.payload).join(',')}]`;

/**
 * What numbering a batch's messages needs besides the stream heads: how many messages each
 * stream gets, and for each message how many of its stream come after it in the batch. A
 * message's seq is then its stream's new head minus that number.
 */
function streamSequencing(messages: readonly StreamMessage[]): {
  counts: Map<string, number>;
  later: number[];
} {
  const counts = new Map<string, number>();
  const later: number[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const stream = messages[i]?.stream ?? '';
    const after = counts.get(stream) ?? 0;
    later[i] = after;
    counts.set(stream, after + 1);
  }
  return { counts, later };
}

/** What the write statement takes: a plan's rows, each kind as one list. */
interface BatchWrite {
  readonly inserted: readonly MutableOrder[];
  readonly updated: readonly MutableOrder[];
  readonly fills: readonly FillRow[];
  /** Changed balances only. */
  readonly deltas: readonly BalanceDelta[];
  readonly books: readonly (readonly [symbol: string, state: BookState])[];
  /** Per stream, how many messages the batch adds to it. */
  readonly heads: readonly (readonly [stream: string, count: number])[];
  readonly messages: readonly StreamMessage[];
  /** Per message, how many of its stream's messages come after it (`streamSequencing`). */
  readonly later: readonly number[];
  readonly completeMessages: number;
  /** The batch's time, its fills' `created_at`. */
  readonly now: Date;
}

/** `orders` columns a place inserts, as planned (`placed_price`/`placed_quantity` follow). */
const NEW_ORDER_COLUMNS: Columns<MutableOrder> = {
  id: bigintColumn((o) => o.id),
  user_id: bigintColumn((o) => o.userId),
  client_order_id: textColumn((o) => o.clientOrderId),
  symbol: textColumn((o) => o.symbol),
  side: textColumn((o) => o.side),
  type: textColumn((o) => o.type),
  time_in_force: textColumn((o) => o.timeInForce),
  price: bigintColumn((o) => o.price),
  reserve_price: bigintColumn((o) => o.reservePrice),
  quantity: bigintColumn((o) => o.quantity),
  filled: bigintColumn((o) => o.filled),
  status: textColumn((o) => o.status),
  post_only: booleanColumn((o) => o.postOnly),
  reason: textColumn((o) => o.reason),
  priority: bigintColumn((o) => o.priority),
  created_at: instantColumn((o) => o.createdAt),
  updated_at: instantColumn((o) => o.updatedAt),
};

/** `orders` columns a batch can change in an order it did not insert, by `id`. */
const CHANGED_ORDER_COLUMNS: Columns<MutableOrder> = {
  id: bigintColumn((o) => o.id),
  price: bigintColumn((o) => o.price),
  reserve_price: bigintColumn((o) => o.reservePrice),
  quantity: bigintColumn((o) => o.quantity),
  filled: bigintColumn((o) => o.filled),
  status: textColumn((o) => o.status),
  reason: textColumn((o) => o.reason),
  priority: bigintColumn((o) => o.priority),
  updated_at: instantColumn((o) => o.updatedAt),
};

/** `fills` columns (`created_at` is the batch's time, `BatchWrite.now`). */
const FILL_COLUMNS: Columns<FillRow> = {
  symbol: textColumn((f) => f.symbol),
  trade_id: bigintColumn((f) => f.tradeId),
  price: bigintColumn((f) => f.price),
  quantity: bigintColumn((f) => f.quantity),
  taker_side: textColumn((f) => f.takerSide),
  maker_order_id: bigintColumn((f) => f.makerOrderId),
  taker_order_id: bigintColumn((f) => f.takerOrderId),
};

/** Amounts added to `balances` rows. */
const DELTA_COLUMNS: Columns<BalanceDelta> = {
  user_id: bigintColumn((d) => d.userId),
  asset: textColumn((d) => d.asset),
  available: bigintColumn((d) => d.available),
  reserved: bigintColumn((d) => d.reserved),
};

const BOOK_COLUMNS: Columns<BatchWrite['books'][number]> = {
  symbol: textColumn(([symbol]) => symbol),
  next_trade_id: bigintColumn(([, state]) => state.nextTradeId),
  next_priority: bigintColumn(([, state]) => state.nextPriority),
  last_trade_price: bigintColumn(([, state]) => state.lastTradePrice),
};

const HEAD_COLUMNS: Columns<BatchWrite['heads'][number]> = {
  stream: textColumn(([stream]) => stream),
  seq: bigintColumn(([, count]) => count),
};

/**
 * Writes everything a planned batch changed in ONE statement (data-modifying CTEs): orders,
 * fills, balances, book counters and the batch's stream events with their per-stream sequence
 * numbers, as one outbox row (arrays in publish order; migration 0004 says why). The batch's
 * balance updates (the messages past `completeMessages`) get the new amounts the balance
 * statements return, in this same statement.
 *
 * Balances: rows that exist get the deltas added (the CHECKs are the last guard against an
 * overdraft); a counterparty without a row for the asset (its first BTC) gets one inserted.
 * Another shard may insert that same row in the same moment (the user's first sale on two
 * markets that share the asset): a row that does not exist cannot be locked in advance, so the
 * insert waits for that writer and then adds the deltas to its row (credits only: a user can
 * have spent or reserved nothing from a row that was not there).
 * Stream heads: bumping a stream's head row locks it until commit, so batches of different
 * shards writing one user's stream commit in sequence order, and a reader never sees seq 6
 * before seq 5. A data-modifying CTE runs to completion whether or not anything reads it, so
 * the statement returns nothing of its own. It runs on the generic plan `openBatch` set for
 * the transaction.
 * A fill is stamped with the batch's time, the time its trade message and ticker carry, so a
 * ticker window restored from the fills (`loadTicker`) is the one the engine kept.
 * A new order's `placed_price`/`placed_quantity` (what a repeated place is compared with) are
 * its price and quantity as inserted; only an amend in the batch that placed it could make
 * them differ, and the use cases amend committed orders only.
 */
const WRITE_BATCH = namedStatement<BatchWrite>('engine-write-batch-v10', (p) => {
  const streams = p.param('text[]', (w) => textArray(w.messages.map((x) => x.stream)));
  const changed = Object.keys(CHANGED_ORDER_COLUMNS).filter((name) => name !== 'id');
  return `WITH ins AS (
       INSERT INTO orders (${columnNames(NEW_ORDER_COLUMNS)}, placed_price, placed_quantity)
       SELECT u.*, u.price, u.quantity
       FROM ${p.unnest((w) => w.inserted, NEW_ORDER_COLUMNS)}
         AS u(${columnNames(NEW_ORDER_COLUMNS)})
     ), upd AS (
       UPDATE orders o SET ${changed.map((name) => `${name} = u.${name}`).join(', ')}
       FROM ${p.unnest((w) => w.updated, CHANGED_ORDER_COLUMNS)}
         AS u(${columnNames(CHANGED_ORDER_COLUMNS)})
       WHERE o.id = u.id
     ), fil AS (
       INSERT INTO fills (${columnNames(FILL_COLUMNS)}, created_at)
       SELECT x.*, ${p.param('timestamptz', (w) => w.now)} FROM ${p.unnest((w) => w.fills, FILL_COLUMNS)}
         AS x(${columnNames(FILL_COLUMNS)})
     ), d AS (
       SELECT * FROM ${p.unnest((w) => w.deltas, DELTA_COLUMNS)} AS d(${columnNames(DELTA_COLUMNS)})
     ), bal AS (
       UPDATE balances b SET available = b.available + d.available,
         reserved = b.reserved + d.reserved, updated_at = now()
       FROM d WHERE b.user_id = d.user_id AND b.asset = d.asset
       RETURNING b.user_id, b.asset, b.available, b.reserved
     ), newbal AS (
       INSERT INTO balances (user_id, asset, available, reserved)
       SELECT d.user_id, d.asset, d.available, d.reserved FROM d
       WHERE NOT EXISTS (SELECT 1 FROM bal WHERE bal.user_id = d.user_id AND bal.asset = d.asset)
       ON CONFLICT (user_id, asset) DO UPDATE SET
         available = balances.available + EXCLUDED.available,
         reserved = balances.reserved + EXCLUDED.reserved, updated_at = now()
       RETURNING user_id, asset, available, reserved
     ), nb AS (
       SELECT * FROM bal UNION ALL SELECT * FROM newbal
     ), bk AS (
       INSERT INTO books (${columnNames(BOOK_COLUMNS)})
       SELECT * FROM ${p.unnest((w) => w.books, BOOK_COLUMNS)}
       ON CONFLICT (symbol) DO UPDATE SET next_trade_id = EXCLUDED.next_trade_id,
         next_priority = EXCLUDED.next_priority, last_trade_price = EXCLUDED.last_trade_price
     ), heads AS (
       INSERT INTO stream_heads (${columnNames(HEAD_COLUMNS)})
       SELECT * FROM ${p.unnest((w) => w.heads, HEAD_COLUMNS)} ORDER BY 1
       ON CONFLICT (stream) DO UPDATE SET seq = stream_heads.seq + EXCLUDED.seq
       RETURNING stream, seq
     ), ob AS (
       INSERT INTO outbox (streams, seqs, payloads)
       SELECT ${streams},
         ARRAY(SELECT heads.seq - m.later
           FROM unnest(${streams}, ${p.param('bigint[]', (w) => scalarArray(w.later))})
             WITH ORDINALITY AS m(stream, later, ord)
           JOIN heads USING (stream) ORDER BY m.ord),
         ARRAY(SELECT CASE WHEN i <= ${p.param('bigint', (w) => w.completeMessages)} THEN p::text ELSE (
             SELECT json_build_object('type', 'balances', 'balances', json_agg(json_build_object(
               'asset', nb.asset, 'available', nb.available::text,
               'reserved', nb.reserved::text) ORDER BY nb.asset))::text
             FROM nb WHERE nb.user_id = (p->>'userId')::bigint) END
           FROM json_array_elements(${p.param('json', (w) => payloadsJson(w.messages))})
             WITH ORDINALITY AS x(p, i) ORDER BY i)
       WHERE cardinality(${streams}) > 0
     )
     SELECT 1`;
});

/** Writes a planned batch (`WRITE_BATCH`). */
export async function writePlan(
  tx: BatchClient,
  plan: BatchPlan,
  books: ReadonlyMap<string, BookState>,
): Promise<void> {
  const { counts, later } = streamSequencing(plan.messages);
  const write: BatchWrite = {
    inserted: [...plan.inserted.values()],
    updated: [...plan.updated.values()],
    fills: plan.fills,
    deltas: [...plan.deltas.values()].filter((d) => d.available !== 0n || d.reserved !== 0n),
    books: [...books.entries()],
    heads: [...counts.entries()],
    messages: plan.messages,
    later,
    completeMessages: plan.completeMessages,
    now: plan.now,
  };
  await tx.query({
    name: WRITE_BATCH.name,
    text: WRITE_BATCH.text,
    values: WRITE_BATCH.values(write),
  });
}

export interface StoredBook {
  readonly symbol: string;
  readonly state: BookState;
  readonly openOrders: OpenOrder[];
  readonly orders: MutableOrder[];
}

const INITIAL_STATE: BookState = { nextTradeId: 1, nextPriority: 1, lastTradePrice: 0 };

/** What a book is made of, as committed: its counters and its open orders in time priority. */
export async function loadBook(db: Queryable, symbol: string): Promise<StoredBook> {
  const state = await db.query<{ t: string; p: string; l: string }>(
    `SELECT next_trade_id::text AS t, next_priority::text AS p, last_trade_price::text AS l
     FROM books WHERE symbol = $1`,
    [symbol],
  );
  const head = state.rows[0];
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders
     WHERE symbol = $1 AND status IN ('new', 'partially_filled') ORDER BY orders.priority`,
    [symbol],
  );
  const orders: MutableOrder[] = rows.map((row) => ({ ...toOrder(row) }));
  return {
    symbol,
    state:
      head === undefined
        ? INITIAL_STATE
        : {
            nextTradeId: Number(head.t),
            nextPriority: Number(head.p),
            lastTradePrice: Number(head.l),
          },
    orders,
    openOrders: orders.map((o) => ({
      orderId: o.id,
      ownerId: o.userId,
      side: o.side,
      price: o.price,
      quantity: o.quantity,
      filled: o.filled,
      postOnly: o.postOnly,
      priority: o.priority,
    })),
  };
}

/**
 * A symbol's ticker window as committed: its trades since `sinceMs` summed per minute, and its
 * last trade (of any age). Read through the fills' time index (migration 0008).
 * `quoteMinorPerTickLot` turns Σ price × quantity into minor units of the quote asset.
 */
export async function loadTicker(
  db: Queryable,
  symbol: string,
  sinceMs: number,
  quoteMinorPerTickLot: number,
): Promise<TickerState> {
  const buckets = await db.query<{
    start: string;
    open: string;
    high: string;
    low: string;
    volume: string;
    quote: string;
    trades: string;
  }>(
    `SELECT (floor(extract(epoch FROM created_at) * 1000 / $3) * $3)::bigint::text AS start,
       (array_agg(price ORDER BY trade_id))[1]::text AS open, max(price)::text AS high,
       min(price)::text AS low, sum(quantity)::text AS volume,
       sum(price * quantity)::text AS quote, count(*)::text AS trades
     FROM fills WHERE symbol = $1 AND created_at >= $2
     GROUP BY 1 ORDER BY 1`,
    [symbol, new Date(sinceMs), TICKER_BUCKET_MS],
  );
  const last = await db.query<{ price: string; quantity: string }>(
    `SELECT price::text, quantity::text FROM fills WHERE symbol = $1
     ORDER BY trade_id DESC LIMIT 1`,
    [symbol],
  );
  const lastRow = last.rows[0];
  return {
    buckets: buckets.rows.map((row) => ({
      startMs: Number(row.start),
      open: Number(row.open),
      high: Number(row.high),
      low: Number(row.low),
      volume: Number(row.volume),
      quoteVolume: BigInt(row.quote) * BigInt(quoteMinorPerTickLot),
      trades: Number(row.trades),
    })),
    last:
      lastRow === undefined
        ? undefined
        : { price: Number(lastRow.price), quantity: Number(lastRow.quantity) },
  };
}
