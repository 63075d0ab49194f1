import type { Postgres, Queryable } from '../postgres/index.js';
import type { Order, OrderResult } from '../../domain/orders/order.js';
import type { OrderFilter, OrderReader } from '../../domain/orders/order-reader.port.js';
import type { StoredPlace } from '../../domain/orders/order-replay.js';
import {
  FILL_COLUMNS,
  ORDER_COLUMNS,
  PLACED_COLUMNS,
  toFill,
  toOrder,
  toPlacedWith,
  type FillRowOut,
  type OrderRow,
  type PlacedRow,
} from './order-rows.js';

/** Reads an order with its fills; used by the reader and for idempotent replays in a batch. */
export async function withFills(db: Queryable, order: Order): Promise<OrderResult> {
  const { rows } = await db.query<FillRowOut>(
    `SELECT ${FILL_COLUMNS} FROM fills WHERE maker_order_id = $1 OR taker_order_id = $1
     ORDER BY symbol, trade_id`,
    [order.id],
  );
  return { order, fills: rows.map((row) => toFill(order.id, row)) };
}

export class PostgresOrderReader implements OrderReader {
  constructor(private readonly postgres: Postgres) {}

  async get(userId: number, orderId: number): Promise<OrderResult | undefined> {
    const { rows } = await this.postgres.query<OrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1 AND user_id = $2`,
      [orderId, userId],
      { idempotent: true },
    );
    const row = rows[0];
    return row === undefined ? undefined : withFills(this.postgres, toOrder(row));
  }

  async getByClientOrderId(
    userId: number,
    clientOrderId: string,
  ): Promise<StoredPlace | undefined> {
    const { rows } = await this.postgres.query<OrderRow & PlacedRow>(
      `SELECT ${ORDER_COLUMNS}, ${PLACED_COLUMNS} FROM orders
       WHERE user_id = $1 AND client_order_id = $2`,
      [userId, clientOrderId],
      { idempotent: true },
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { result: await withFills(this.postgres, toOrder(row)), placedWith: toPlacedWith(row) };
  }

  async list(
    userId: number,
    filter: OrderFilter,
    limit: number,
    beforeId?: number,
  ): Promise<Order[]> {
    const { rows } = await this.postgres.query<OrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM orders
       WHERE user_id = $1
         AND ($2 = '' OR symbol = $2)
         AND (cardinality($3::text[]) = 0 OR status = ANY($3::text[]))
         AND ($4::bigint IS NULL OR id < $4::bigint)
       ORDER BY orders.id DESC LIMIT $5`,
      [userId, filter.symbol, filter.statuses, beforeId ?? null, limit],
      { idempotent: true },
    );
    return rows.map(toOrder);
  }
}
