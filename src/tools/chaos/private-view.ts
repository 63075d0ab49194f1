import type { OpenStreamResponse } from '../../gen/trading/v1/session_pb.js';
import type { OrderStatus } from '../../gen/trading/v1/orders_pb.js';

export interface ViewedOrder {
  readonly status: OrderStatus;
  readonly filled: bigint;
}

export interface ViewedBalance {
  readonly available: bigint;
  readonly reserved: bigint;
}

/** A fill as both the stream and the `fills` table can say it: trade, order and terms. */
export const fillKey = (fill: {
  tradeId: string;
  orderId: string;
  price: bigint;
  quantity: bigint;
  maker: boolean;
}): string =>
  `${fill.tradeId}/${fill.orderId}/${fill.price}/${fill.quantity}/${fill.maker ? 'maker' : 'taker'}`;

/**
 * What a user knows of its account from its private stream alone, kept as docs/protocol.md
 * says a client should: each fill counted as it arrives in its execution report, each order
 * at its latest report, each asset's balance overwritten by every `balances` message (they
 * carry totals). The chaos run holds this against PostgreSQL at the end (private-check.ts).
 */
export class PrivateView {
  /** Times each fill arrived: exactly once is right. */
  readonly fills = new Map<string, number>();
  readonly orders = new Map<string, ViewedOrder>();
  readonly balances = new Map<string, ViewedBalance>();

  /** Applies a message the client accepted (in seq order, not a repeat). */
  apply(message: OpenStreamResponse): void {
    const { event } = message;
    if (event.case === 'execution') {
      const { order, fills } = event.value;
      if (order !== undefined) {
        this.orders.set(order.orderId, { status: order.status, filled: order.filledQuantity });
      }
      for (const fill of fills) {
        const key = fillKey(fill);
        this.fills.set(key, (this.fills.get(key) ?? 0) + 1);
      }
    } else if (event.case === 'balances') {
      for (const balance of event.value.balances) {
        this.balances.set(balance.asset, {
          available: balance.available,
          reserved: balance.reserved,
        });
      }
    }
  }
}
