import type { Order, OrderResult, OrderStatus } from './order.js';
import type { StoredPlace } from './order-replay.js';

export interface OrderFilter {
  /** Empty: every symbol. */
  readonly symbol: string;
  /** Empty: every status. */
  readonly statuses: readonly OrderStatus[];
}

/** Reads of committed orders; every method is scoped to one user. */
export interface OrderReader {
  get(userId: number, orderId: number): Promise<OrderResult | undefined>;
  getByClientOrderId(userId: number, clientOrderId: string): Promise<StoredPlace | undefined>;
  /** Newest first, ids below `beforeId` when given, at most `limit`. */
  list(userId: number, filter: OrderFilter, limit: number, beforeId?: number): Promise<Order[]>;
}
