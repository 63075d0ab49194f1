import { rejected, type CommandKind, type CommandRejected } from './events.js';
import { BPS_PER_UNIT, bandDeviation } from './price-band.js';
import type { SymbolSpec } from './types.js';

function isPositiveSafeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/**
 * A bad spec is a deployment error, not a user error, so it throws at construction instead of
 * rejecting every later order.
 */
export function assertValidSpec(spec: SymbolSpec): void {
  const fail = (what: string): never => {
    throw new RangeError(`symbol spec ${JSON.stringify(spec.symbol)}: ${what}`);
  };
  if (typeof spec.symbol !== 'string' || spec.symbol.length === 0) fail('symbol must be set');
  if (!isPositiveSafeInteger(spec.tickSize)) fail('tickSize must be a positive safe integer');
  if (!isPositiveSafeInteger(spec.lotSize)) fail('lotSize must be a positive safe integer');
  if (!isPositiveSafeInteger(spec.minQuantity)) fail('minQuantity must be a positive safe integer');
  if (!isPositiveSafeInteger(spec.maxQuantity)) fail('maxQuantity must be a positive safe integer');
  if (spec.minQuantity > spec.maxQuantity) fail('minQuantity must not exceed maxQuantity');
  const band = spec.priceBand;
  if (band !== undefined) {
    const bps = band.maxDeviationBps;
    if (!Number.isSafeInteger(bps) || bps < 0 || bps > BPS_PER_UNIT) {
      fail(`priceBand.maxDeviationBps must be an integer in [0, ${BPS_PER_UNIT}]`);
    }
    if (band.referencePrice !== undefined && !isPositiveSafeInteger(band.referencePrice)) {
      fail('priceBand.referencePrice must be a positive safe integer');
    }
  }
}

/**
 * The per-symbol checks of a price or a quantity. Each returns undefined when the value is
 * allowed, so the accepted path allocates nothing.
 */
export class SymbolRules {
  readonly symbol: string;
  private readonly tickSize: number;
  private readonly lotSize: number;
  private readonly minQuantity: number;
  private readonly maxQuantity: number;
  private readonly bandBps: number;
  private readonly configuredReference: number;
  // The band is recomputed only when its reference price changes.
  private bandReference = -1;
  private bandLow = 0;
  private bandHigh = Number.MAX_SAFE_INTEGER;

  constructor(spec: SymbolSpec) {
    assertValidSpec(spec);
    this.symbol = spec.symbol;
    this.tickSize = spec.tickSize;
    this.lotSize = spec.lotSize;
    this.minQuantity = spec.minQuantity;
    this.maxQuantity = spec.maxQuantity;
    this.bandBps = spec.priceBand?.maxDeviationBps ?? -1;
    this.configuredReference = spec.priceBand?.referencePrice ?? 0;
  }

  checkQuantity(
    command: CommandKind,
    orderId: number,
    quantity: number,
  ): CommandRejected | undefined {
    if (!isPositiveSafeInteger(quantity)) {
      return rejected(
        command,
        orderId,
        'invalid-quantity',
        `quantity must be a positive whole number of lots, got ${String(quantity)}`,
      );
    }
    if (quantity % this.lotSize !== 0) {
      return rejected(
        command,
        orderId,
        'lot-size',
        `quantity ${quantity} is not a multiple of the lot size ${this.lotSize} of ${this.symbol}`,
      );
    }
    if (quantity < this.minQuantity) {
      return rejected(
        command,
        orderId,
        'quantity-below-min',
        `quantity ${quantity} is below the minimum ${this.minQuantity} of ${this.symbol}`,
      );
    }
    if (quantity > this.maxQuantity) {
      return rejected(
        command,
        orderId,
        'quantity-above-max',
        `quantity ${quantity} is above the maximum ${this.maxQuantity} of ${this.symbol}`,
      );
    }
    return undefined;
  }

  checkPrice(
    command: CommandKind,
    orderId: number,
    price: number,
    lastTradePrice: number,
  ): CommandRejected | undefined {
    if (!isPositiveSafeInteger(price)) {
      return rejected(
        command,
        orderId,
        'invalid-price',
        `price must be a positive whole number of ticks, got ${String(price)}`,
      );
    }
    if (price % this.tickSize !== 0) {
      return rejected(
        command,
        orderId,
        'tick-size',
        `price ${price} is not a multiple of the tick size ${this.tickSize} of ${this.symbol}`,
      );
    }
    if (this.bandBps >= 0 && this.updateBand(lastTradePrice)) {
      if (price < this.bandLow || price > this.bandHigh) {
        return rejected(
          command,
          orderId,
          'price-out-of-band',
          `price ${price} is outside the band ${this.bandLow}..${this.bandHigh} of ${this.symbol} ` +
            `(${this.bandBps} bps around the reference price ${this.bandReference})`,
        );
      }
    }
    return undefined;
  }

  /** The worst price a market buy may trade at: the band's high, or no limit without a band. */
  marketBuyLimit(lastTradePrice: number): number {
    return this.bandBps >= 0 && this.updateBand(lastTradePrice)
      ? this.bandHigh
      : Number.POSITIVE_INFINITY;
  }

  marketSellLimit(lastTradePrice: number): number {
    return this.bandBps >= 0 && this.updateBand(lastTradePrice)
      ? this.bandLow
      : Number.NEGATIVE_INFINITY;
  }

  /** Returns false when there is no reference price yet, so no band applies. */
  private updateBand(lastTradePrice: number): boolean {
    const reference = lastTradePrice > 0 ? lastTradePrice : this.configuredReference;
    if (reference <= 0) return false;
    if (reference !== this.bandReference) {
      const deviation = bandDeviation(reference, this.bandBps);
      this.bandReference = reference;
      this.bandLow = reference - deviation;
      this.bandHigh = reference + deviation;
    }
    return true;
  }
}
