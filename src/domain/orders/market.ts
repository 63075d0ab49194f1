import type { Side, SymbolSpec } from '../../engine/index.js';

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
