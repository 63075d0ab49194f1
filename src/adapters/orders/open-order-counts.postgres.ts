import type { Queryable } from '../postgres/index.js';

/**
 * Open (resting) orders per user over every symbol, as committed: the truth the open-order
 * quota counters are reconciled with. Users without open orders are absent. The predicate is
 * the one of the partial index `orders_open_idx`, so only open orders are read.
 */
export async function openOrdersByUser(db: Queryable): Promise<Map<number, number>> {
  const { rows } = await db.query<{ user_id: string; open: number }>(
    `SELECT user_id::text, count(*)::int AS open FROM orders
     WHERE status IN ('new', 'partially_filled') GROUP BY user_id`,
  );
  return new Map(rows.map((row) => [Number(row.user_id), row.open]));
}
