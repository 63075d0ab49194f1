import type { Order, OrderResult } from './order.js';

/** A validated command for the engine shard that owns `symbol`. */
export type OrderCommand =
  | ({ readonly kind: 'place' } & Pick<
      Order,
      | 'userId'
      | 'clientOrderId'
      | 'symbol'
      | 'side'
      | 'type'
      | 'timeInForce'
      | 'price'
      | 'quantity'
      | 'postOnly'
    >)
  | {
      readonly kind: 'cancel';
      readonly userId: number;
      readonly symbol: string;
      readonly orderId: number;
    }
  | {
      readonly kind: 'amend';
      readonly userId: number;
      readonly symbol: string;
      readonly orderId: number;
      readonly price?: number;
      readonly quantity?: number;
    };

/**
 * The `dependency` of the `unavailable` error a process answers for a shard it does not lead
 * (a standby): nothing was done, so any command may go at once to another engine process.
 */
export const NOT_LEADER_DEPENDENCY = 'engine-leader';

/**
 * The engine shards. `submit` resolves only after the command's effects are committed to
 * PostgreSQL, so an acknowledged order is durable; it rejects with a DomainError
 * (`failed_precondition` for insufficient balance, `unavailable` when the batch could not be
 * committed, …). A place whose client order id the user already used resolves to that order.
 */
export interface OrderEngine {
  submit(command: OrderCommand): Promise<Submitted>;
}

export interface Submitted {
  readonly result: OrderResult;
  /** True when a place repeated a client order id: `result` is the original order. */
  readonly replayed: boolean;
}
