import type { OrderBook, OrderType, Side, SymbolSpec } from '../../engine/index.js';

/**
 * A traded symbol: the engine's rules plus how ticks and lots map to balance minor units.
 *
 * The cost of `q` lots at `p` ticks is `q × p × quoteMinorPerTickLot` minor units of the quote
 * asset, and `q` lots are `q × baseMinorPerLot` minor units of the base asset. Choosing the tick
 * and lot so that one tick × one lot is a whole minor unit keeps every amount an integer.
 */
export interface Market {
  readonly spec: SymbolSpec;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly quoteMinorPerTickLot: number;
  readonly baseMinorPerLot: number;
}

export interface AssetAmount {
  readonly asset: string;
  readonly amount: bigint;
}

/** What an order with `openQuantity` lots open holds: quote for a buy, base for a sell. */
export function reservationFor(
  market: Market,
  side: Side,
  reservePrice: number,
  openQuantity: number,
): AssetAmount {
  return side === 'buy'
    ? { asset: market.quoteAsset, amount: quoteAmount(market, reservePrice, openQuantity) }
    : { asset: market.baseAsset, amount: baseAmount(market, openQuantity) };
}

export const quoteAmount = (market: Market, price: number, quantity: number): bigint =>
  BigInt(price) * BigInt(quantity) * BigInt(market.quoteMinorPerTickLot);

export const baseAmount = (market: Market, quantity: number): bigint =>
  BigInt(quantity) * BigInt(market.baseMinorPerLot);

/**
 * The price an order's reservation is made at: its limit price; for a market buy, the price of
 * the ask level at which the asks' cumulative quantity covers it (or the last level). With
 * self-trade prevention `cancel-incoming` a buy stops at its own order instead of reaching
 * deeper, so it never trades above this price and reserving `quantity × price` always covers
 * it. A market sell holds base, whatever the price (0).
 */
export function reservePriceFor(
  book: OrderBook,
  order: {
    readonly side: Side;
    readonly type: OrderType;
    readonly price: number;
    readonly quantity: number;
  },
): number {
  if (order.type === 'limit') return order.price;
  if (order.side === 'sell') return 0;
  let covered = 0;
  let price = 0;
  for (const level of book.snapshot(Number.MAX_SAFE_INTEGER).asks) {
    price = level.price;
    covered += level.quantity;
    if (covered >= order.quantity) break;
  }
  return price;
}

/**
 * What amending a resting order to `price` and `quantity` lots adds to what it holds; negative
 * when the amend frees some. The order is re-reserved at its new price.
 */
export function amendHold(
  market: Market,
  order: {
    readonly side: Side;
    readonly reservePrice: number;
    readonly quantity: number;
    readonly filled: number;
  },
  price: number,
  quantity: number,
): AssetAmount {
  const before = reservationFor(
    market,
    order.side,
    order.reservePrice,
    order.quantity - order.filled,
  );
  const after = reservationFor(market, order.side, price, quantity - order.filled);
  return { asset: after.asset, amount: after.amount - before.amount };
}
