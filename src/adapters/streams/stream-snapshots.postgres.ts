import type { LevelView } from '../../engine/index.js';
import type { Balance } from '../../domain/accounts/balance.js';
import type { StreamSnapshots } from '../../domain/ports/stream-snapshots.port.js';
import type { Postgres } from '../postgres/index.js';

/**
 * One statement each, so the stream head and the rows come from one database snapshot: the
 * engine writes a batch's orders, balances and stream heads in one transaction, hence the rows
 * are exactly the state after the head's seq. The book is the open limit orders' remaining
 * quantities summed per price, as the engine rebuilds it (orders_open_idx serves the scan).
 */
const BOOK_SQL = `WITH head AS (
    SELECT coalesce((SELECT seq FROM stream_heads WHERE stream = $1), 0) AS seq)
  SELECT head.seq::text AS seq, l.side, l.price::text AS price, l.quantity::text AS quantity
  FROM head LEFT JOIN LATERAL (
    SELECT side, price, sum(quantity - filled) AS quantity FROM orders
    WHERE symbol = $2 AND status IN ('new', 'partially_filled') AND type = 'limit'
    GROUP BY side, price) l ON true`;

const BALANCES_SQL = `WITH head AS (
    SELECT coalesce((SELECT seq FROM stream_heads WHERE stream = $1), 0) AS seq)
  SELECT head.seq::text AS seq, b.asset, b.available::text AS available,
    b.reserved::text AS reserved
  FROM head LEFT JOIN balances b ON b.user_id = $2
  ORDER BY b.asset`;

export class PostgresStreamSnapshots implements StreamSnapshots {
  constructor(private readonly postgres: Postgres) {}

  async book(symbol: string): Promise<{ seq: number; bids: LevelView[]; asks: LevelView[] }> {
    const { rows } = await this.postgres.query<{
      seq: string;
      side: string | null;
      price: string | null;
      quantity: string | null;
    }>(BOOK_SQL, [`book.${symbol}`, symbol], { idempotent: true });
    const bids: LevelView[] = [];
    const asks: LevelView[] = [];
    for (const row of rows) {
      if (row.side === null) continue;
      const level = { price: Number(row.price), quantity: Number(row.quantity) };
      (row.side === 'buy' ? bids : asks).push(level);
    }
    return { seq: Number(rows[0]?.seq ?? 0), bids, asks };
  }

  async balances(userId: number): Promise<{ seq: number; balances: Balance[] }> {
    const { rows } = await this.postgres.query<{
      seq: string;
      asset: string | null;
      available: string | null;
      reserved: string | null;
    }>(BALANCES_SQL, [`orders.${userId}`, userId], { idempotent: true });
    const balances: Balance[] = [];
    for (const row of rows) {
      if (row.asset === null) continue;
      balances.push({
        asset: row.asset,
        available: BigInt(row.available ?? 0),
        reserved: BigInt(row.reserved ?? 0),
      });
    }
    return { seq: Number(rows[0]?.seq ?? 0), balances };
  }
}
