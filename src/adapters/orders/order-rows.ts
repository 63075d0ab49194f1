import type { OrderType, Side, TimeInForce } from '../../engine/index.js';
import type { Fill, Order, OrderStatus } from '../../domain/orders/order.js';
import type { PlacedWith } from '../../domain/orders/order-replay.js';

/**
 * Column list and row mapping of `orders`, shared by the readers and the shard store.
 * pg returns bigint as text already; the casts are for the shard store, which reads these
 * through json_agg (where a bigint would become a JSON number). They keep the column names,
 * so a query selecting these must qualify what it orders by (`ORDER BY orders.id`): a bare
 * `ORDER BY id` means the text output column and sorts 10 before 9.
 */
export const ORDER_COLUMNS = `id::text, user_id::text, client_order_id, symbol, side, type,
  time_in_force, price::text, reserve_price::text, quantity::text, filled::text, status,
  post_only, reason, priority::text, created_at, updated_at`;

export interface OrderRow {
  id: string;
  user_id: string;
  client_order_id: string;
  symbol: string;
  side: string;
  type: string;
  time_in_force: string;
  price: string;
  reserve_price: string;
  quantity: string;
  filled: string;
  status: string;
  post_only: boolean;
  reason: string;
  priority: string;
  created_at: Date;
  updated_at: Date;
}

/** bigint columns are read as text and fit a safe integer by construction (ids, ticks, lots). */
export const toOrder = (row: OrderRow): Order => ({
  id: Number(row.id),
  userId: Number(row.user_id),
  clientOrderId: row.client_order_id,
  symbol: row.symbol,
  side: row.side as Side,
  type: row.type as OrderType,
  timeInForce: row.time_in_force as TimeInForce,
  price: Number(row.price),
  reservePrice: Number(row.reserve_price),
  quantity: Number(row.quantity),
  filled: Number(row.filled),
  status: row.status as OrderStatus,
  postOnly: row.post_only,
  reason: row.reason,
  priority: Number(row.priority),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** What an order was placed with (migration 0006): what a repeated place is compared with. */
export const PLACED_COLUMNS = 'placed_price::text, placed_quantity::text';

export interface PlacedRow {
  placed_price: string | null;
  placed_quantity: string | null;
}

/** Undefined for an order stored before migration 0006 (NULL columns). */
export const toPlacedWith = (row: PlacedRow): PlacedWith | undefined =>
  row.placed_price === null || row.placed_quantity === null
    ? undefined
    : { price: Number(row.placed_price), quantity: Number(row.placed_quantity) };

/** bigint columns, which pg returns as text. */
export const FILL_COLUMNS = 'trade_id, price, quantity, maker_order_id, taker_order_id';

export interface FillRowOut {
  trade_id: string;
  price: string;
  quantity: string;
  maker_order_id: string;
  taker_order_id: string;
}

/** A fill as seen by `orderId`. */
export const toFill = (orderId: number, row: FillRowOut): Fill => ({
  tradeId: Number(row.trade_id),
  orderId,
  price: Number(row.price),
  quantity: Number(row.quantity),
  maker: Number(row.maker_order_id) === orderId,
});
