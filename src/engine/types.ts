/**
 * Plain value types of the matching engine. Prices are integer ticks and quantities integer
 * lots (safe integers); the engine never sees a float, a clock or a random number.
 */

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
/** Good till cancelled, immediate or cancel, fill or kill. */
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';

/**
 * What happens when an incoming order would trade with a resting order of the same owner.
 * `cancel-resting` cancels the resting order and keeps matching; `cancel-incoming` stops the
 * incoming order there (trades already made stand); `cancel-both` does both.
 */
export type SelfTradePrevention = 'cancel-resting' | 'cancel-incoming' | 'cancel-both';

/**
 * Limit prices must lie within `maxDeviationBps` basis points of a reference price: the last
 * trade of the book, or `referencePrice` until the first trade. Without either, no band applies.
 */
export interface PriceBand {
  readonly maxDeviationBps: number;
  readonly referencePrice?: number;
}

/** Trading rules of one symbol. Every violation is a typed rejection, never an exception. */
export interface SymbolSpec {
  readonly symbol: string;
  /** Prices must be a multiple of this many price units. */
  readonly tickSize: number;
  /** Quantities must be a multiple of this many quantity units. */
  readonly lotSize: number;
  readonly minQuantity: number;
  readonly maxQuantity: number;
  readonly priceBand?: PriceBand;
}

export interface OrderBookOptions {
  /** Default `cancel-resting`. */
  readonly selfTradePrevention?: SelfTradePrevention;
  /**
   * Append one `level` event per price level a command changed, after its other events, so a
   * market-data publisher can send deltas without diffing snapshots. Default false.
   */
  readonly emitLevelChanges?: boolean;
}

export interface PlaceOrder {
  /** Assigned by the caller; unique among the open orders of the book. */
  readonly orderId: number;
  readonly ownerId: number;
  readonly side: Side;
  readonly type: OrderType;
  /** Market orders accept IOC or FOK only. */
  readonly timeInForce: TimeInForce;
  /** Limit price in ticks; ignored for market orders (events then report 0). */
  readonly price: number;
  readonly quantity: number;
  /** Only for GTC limit orders: rejected instead of taking liquidity. */
  readonly postOnly?: boolean;
}

export interface CancelOrder {
  readonly orderId: number;
}

/**
 * `quantity` is the new total quantity of the order, fills included (as in FIX
 * OrderCancelReplaceRequest), so an amend racing a fill cannot over-buy.
 */
export interface AmendOrder {
  readonly orderId: number;
  readonly price?: number;
  readonly quantity?: number;
}

export type BookCommand =
  | (PlaceOrder & { readonly kind: 'place' })
  | (CancelOrder & { readonly kind: 'cancel' })
  | (AmendOrder & { readonly kind: 'amend' });

export type EngineCommand = BookCommand & { readonly symbol: string };

/** An open order as persisted, enough to rebuild a book exactly. */
export interface OpenOrder {
  readonly orderId: number;
  readonly ownerId: number;
  readonly side: Side;
  readonly price: number;
  /** Total quantity, fills included. */
  readonly quantity: number;
  readonly filled: number;
  readonly postOnly: boolean;
  /** Time priority: lower is earlier. Unique per book; from `rested` and `amended` events. */
  readonly priority: number;
}

/** Counters that, restored with the open orders, make a rebuilt book replay identically. */
export interface BookState {
  readonly nextTradeId: number;
  readonly nextPriority: number;
  /** Last trade price, the price band's reference; 0 when the book has not traded. */
  readonly lastTradePrice: number;
}

export interface LevelView {
  readonly price: number;
  readonly quantity: number;
}

/** Bids best (highest) first, asks best (lowest) first. */
export interface BookSnapshot {
  readonly bids: LevelView[];
  readonly asks: LevelView[];
}
