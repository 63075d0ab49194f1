import type pg from 'pg';
import type { Ack } from './trader.js';

export interface LedgerMarket {
  readonly symbol: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly quoteMinorPerTickLot: number;
  readonly baseMinorPerLot: number;
}

/** What PostgreSQL says about the acknowledged orders and the books after a run. */
export interface LedgerReport {
  readonly acked_orders: number;
  /** Acknowledged orders with no row, or a row of another id: must be 0. */
  readonly acked_orders_lost: number;
  /** Two answers for one client_order_id that named different orders: must be 0. */
  readonly acks_conflicting: number;
  /** Rows repeating a (user, client_order_id): must be 0. */
  readonly orders_duplicated: number;
  /** Orders whose fills do not add up to their filled quantity (a fill applied twice): 0. */
  readonly fills_duplicated: number;
  /** Trade ids of the symbol not 1..N, or the book's counter not N+1: 0. */
  readonly trade_ids_broken: number;
  /** Per asset, available + reserved over all users equals what was deposited. */
  readonly balances_conserved: boolean;
  /** Balances whose `reserved` differs from what their open orders hold: 0. */
  readonly reservations_mismatched: number;
  readonly orders: number;
  readonly fills: number;
}

/**
 * Checks the invariants of the order ledger, on a connection whose search_path is the
 * deployment's schema. `deposits` is what every user was granted (the demo balance): nothing
 * else adds or removes money.
 */
export async function checkLedger(
  db: pg.ClientBase,
  market: LedgerMarket,
  deposits: ReadonlyMap<string, bigint>,
  acks: readonly Ack[],
): Promise<LedgerReport> {
  const byKey = new Map<string, string>();
  let conflicting = 0;
  for (const ack of acks) {
    const key = `${ack.userId}/${ack.clientOrderId}`;
    const seen = byKey.get(key);
    if (seen !== undefined && seen !== ack.orderId) conflicting += 1;
    byKey.set(key, ack.orderId);
  }
  const { rows: stored } = await db.query<{ key: string; id: string }>(
    `SELECT user_id::text || '/' || client_order_id AS key, id::text FROM orders
     WHERE symbol = $1`,
    [market.symbol],
  );
  const storedByKey = new Map(stored.map((row) => [row.key, row.id]));
  let lost = 0;
  for (const [key, orderId] of byKey) if (storedByKey.get(key) !== orderId) lost += 1;

  const count = async (sql: string, values: unknown[] = []) =>
    Number((await db.query<{ n: string }>(sql, values)).rows[0]?.n ?? 0);
  const duplicated = await count(
    `SELECT count(*)::text AS n FROM (SELECT 1 FROM orders GROUP BY user_id, client_order_id
     HAVING count(*) > 1) d`,
  );
  const fillsWrong = await count(
    `SELECT count(*)::text AS n FROM (
       SELECT o.id FROM orders o
       LEFT JOIN fills f ON f.maker_order_id = o.id OR f.taker_order_id = o.id
       GROUP BY o.id, o.filled, o.quantity
       HAVING coalesce(sum(f.quantity), 0) <> o.filled OR o.filled > o.quantity
         OR bool_or(f.maker_order_id = f.taker_order_id)) x`,
  );
  const { rows: ids } = await db.query<{ n: string; d: string; lo: string; hi: string }>(
    `SELECT count(*)::text AS n, count(DISTINCT trade_id)::text AS d,
       coalesce(min(trade_id), 1)::text AS lo, coalesce(max(trade_id), 0)::text AS hi
     FROM fills WHERE symbol = $1`,
    [market.symbol],
  );
  const next = await count(
    `SELECT coalesce((SELECT next_trade_id FROM books WHERE symbol = $1), 1)::text AS n`,
    [market.symbol],
  );
  const trades = ids[0];
  const fills = Number(trades?.n ?? 0);
  const tradeIdsBroken =
    (fills > 0 && trades?.lo !== '1' ? 1 : 0) +
    (trades?.d !== trades?.n ? 1 : 0) +
    (Number(trades?.hi ?? 0) !== fills ? 1 : 0) +
    (next !== fills + 1 ? 1 : 0);

  const users = await count('SELECT count(*)::text AS n FROM users');
  const { rows: totals } = await db.query<{ asset: string; total: string }>(
    'SELECT asset, sum(available + reserved)::text AS total FROM balances GROUP BY asset',
  );
  const held = new Map(totals.map((row) => [row.asset, BigInt(row.total)]));
  const conserved =
    users > 0 &&
    [...deposits].every(([asset, each]) => held.get(asset) === each * BigInt(users)) &&
    [...held.keys()].every((asset) => deposits.has(asset));
  const reservations = await count(
    `WITH held AS (
       SELECT user_id, CASE side WHEN 'buy' THEN $1 ELSE $2 END AS asset,
         sum((quantity - filled) * CASE side WHEN 'buy' THEN reserve_price * $3::bigint
           ELSE $4::bigint END) AS reserved
       FROM orders WHERE status IN ('new', 'partially_filled') AND symbol = $5 GROUP BY 1, 2
     )
     SELECT count(*)::text AS n FROM balances b LEFT JOIN held h USING (user_id, asset)
     WHERE b.reserved <> coalesce(h.reserved, 0)`,
    [
      market.quoteAsset,
      market.baseAsset,
      String(market.quoteMinorPerTickLot),
      String(market.baseMinorPerLot),
      market.symbol,
    ],
  );
  return {
    acked_orders: byKey.size,
    acked_orders_lost: lost,
    acks_conflicting: conflicting,
    orders_duplicated: duplicated,
    fills_duplicated: fillsWrong,
    trade_ids_broken: tradeIdsBroken,
    balances_conserved: conserved,
    reservations_mismatched: reservations,
    orders: stored.length,
    fills,
  };
}
