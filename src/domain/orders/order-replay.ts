import { DomainError } from '../errors.js';
import type { Order, OrderResult } from './order.js';
import type { PlaceOrderInput } from './order-requests.js';

/** The terms a place asks for, as a replay compares them. */
export type PlaceTerms = Pick<
  PlaceOrderInput,
  'symbol' | 'side' | 'type' | 'timeInForce' | 'price' | 'quantity' | 'postOnly'
>;

/** The price and quantity an order was placed with; an amend changes the order's own. */
export interface PlacedWith {
  readonly price: number;
  readonly quantity: number;
}

/** An order found under a client order id, with what it was placed with. */
export interface StoredPlace {
  readonly result: OrderResult;
  /** Undefined for orders stored before the column existed (migration 0006). */
  readonly placedWith: PlacedWith | undefined;
}

/**
 * A place whose client order id is already taken gets that order back only when it asks for
 * the same order: a retry, even after the order was amended or filled. A different order
 * under a used id is a client that reused an id, and answering with the stored order would
 * tell it that its new order was placed. That is `already_exists` instead, naming the stored
 * order and the first term that differs; nothing is written.
 */
export function replayMismatch(
  asked: PlaceTerms,
  stored: Pick<
    Order,
    'id' | 'clientOrderId' | 'symbol' | 'side' | 'type' | 'timeInForce' | 'postOnly'
  >,
  placedWith: PlacedWith | undefined,
): DomainError | undefined {
  const terms: (readonly [string, string | number | boolean, string | number | boolean])[] = [
    ['symbol', asked.symbol, stored.symbol],
    ['side', asked.side, stored.side],
    ['type', asked.type, stored.type],
    ['time_in_force', asked.timeInForce, stored.timeInForce],
    ['post_only', asked.postOnly, stored.postOnly],
    // Orders stored before migration 0006 keep only their current price and quantity, which
    // an amend may have changed: their retries are matched on the terms above alone.
    ...(placedWith === undefined
      ? []
      : ([
          ['price', asked.price, placedWith.price],
          ['quantity', asked.quantity, placedWith.quantity],
        ] as const)),
  ];
  const differing = terms.find(([, mine, theirs]) => mine !== theirs);
  if (differing === undefined) return undefined;
  const [term, mine, theirs] = differing;
  return new DomainError(
    'already_exists',
    `client order id ${stored.clientOrderId} is already order ${stored.id}, a different order ` +
      `(${term}: ${String(theirs)}, not ${String(mine)}); use a new client order id for a ` +
      'new order, or repeat the original request to get its result',
    { field: 'client_order_id' },
  );
}
