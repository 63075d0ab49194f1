import type { OrderType, Side, TimeInForce } from '../../engine/index.js';

/**
 * An order as stored and reported. Ids are the engine's safe-integer numbers (decimal strings
 * on the wire); price in ticks, quantities in lots. A rejected order is never stored, so it has
 * no status here: the caller gets an error instead.
 */
export type OrderStatus = 'new' | 'partially_filled' | 'filled' | 'canceled';

export const OPEN_STATUSES: readonly OrderStatus[] = ['new', 'partially_filled'];

export interface Order {
  readonly id: number;
  readonly userId: number;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  /** 0 for market orders. */
  readonly price: number;
  /**
   * The price the order's reservation was made at: the limit price, or for a market buy the
   * worst price it could trade at. Settlement and release use it, so they always add up.
   */
  readonly reservePrice: number;
  /** Total quantity, fills included. */
  readonly quantity: number;
  readonly filled: number;
  readonly status: OrderStatus;
  readonly postOnly: boolean;
  /** Why the order is done (or empty), readable by its owner. */
  readonly reason: string;
  /** Engine time priority while it rests. */
  readonly priority: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One fill of an order, from the order's point of view. */
export interface Fill {
  readonly tradeId: number;
  readonly orderId: number;
  readonly price: number;
  readonly quantity: number;
  readonly maker: boolean;
}

export interface OrderResult {
  readonly order: Order;
  readonly fills: readonly Fill[];
}

/** A place's answer: `replayed` when the client order id had already placed this order. */
export interface PlacedOrder extends OrderResult {
  readonly replayed: boolean;
}

export const isOpen = (status: OrderStatus): boolean =>
  status === 'new' || status === 'partially_filled';

export const openStatus = (filled: number): OrderStatus =>
  filled > 0 ? 'partially_filled' : 'new';
