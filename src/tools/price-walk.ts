import type { Side, SymbolSpec } from '../engine/index.js';
import type { SeededRandom } from './seeded-random.js';

/** How far the mid may wander from the reference, when the symbol has no tighter price band. */
const MAX_DEVIATION = 0.1;
/** Share of the distance back to the reference recovered per move, so the walk stays near it. */
const REVERSION = 0.01;
/** One step of the walk, and the spacing of the quotes, relative to the reference. */
const STEP = 0.0001;
/** Quotes rest from 1 to this many steps away from the mid. */
const LEVELS = 5;
/** Crossing orders reach from 1 to this many steps through the mid. */
const CROSS_LEVELS = 3;
/** The largest order is this many times the smallest (and never above the symbol's maximum). */
const SIZE_RANGE = 10;

/**
 * A mean-reverting random walk of one symbol's mid price, and the prices and sizes a bot quotes
 * around it. Everything is a whole number of the symbol's ticks and lots within its limits, so
 * the engine never rejects a simulated order for its shape.
 */
export class PriceWalk {
  readonly symbol: string;
  readonly #tick: number;
  readonly #lot: number;
  /** All in ticks. */
  readonly #reference: number;
  readonly #low: number;
  readonly #high: number;
  readonly #step: number;
  #mid: number;
  /** In lots. */
  readonly #smallest: number;
  readonly #largest: number;

  constructor(spec: SymbolSpec, referencePrice: number) {
    this.symbol = spec.symbol;
    this.#tick = spec.tickSize;
    this.#lot = spec.lotSize;
    this.#reference = Math.max(1, Math.round(referencePrice / spec.tickSize));
    // Within half the symbol's band, a quote near the mid stays inside the band around the last
    // trade price too.
    const band = spec.priceBand === undefined ? 1 : spec.priceBand.maxDeviationBps / 20_000;
    const deviation = Math.min(MAX_DEVIATION, band);
    this.#low = Math.max(1, Math.ceil(this.#reference * (1 - deviation)));
    this.#high = Math.max(this.#low, Math.floor(this.#reference * (1 + deviation)));
    this.#step = Math.max(1, Math.round(this.#reference * STEP));
    this.#mid = this.#reference;

    this.#smallest = Math.ceil(spec.minQuantity / spec.lotSize);
    this.#largest = Math.min(
      Math.floor(spec.maxQuantity / spec.lotSize),
      this.#smallest * SIZE_RANGE,
    );
    if (this.#largest < this.#smallest) {
      throw new RangeError(
        `symbol ${spec.symbol}: no multiple of the lot size ${spec.lotSize} lies between ${spec.minQuantity} and ${spec.maxQuantity}`,
      );
    }
  }

  get mid(): number {
    return this.#mid * this.#tick;
  }

  /** The highest price a simulated buy may reach: what a bot's quote balance must cover. */
  get maxPrice(): number {
    return (this.#high + CROSS_LEVELS * this.#step) * this.#tick;
  }

  /** The largest simulated order, in quantity units. */
  get maxQuantity(): number {
    return this.#largest * this.#lot;
  }

  /** Moves the mid one random step, pulled back towards the reference. */
  move(random: SeededRandom): number {
    const pull = Math.round((this.#reference - this.#mid) * REVERSION);
    const next = this.#mid + random.int(-this.#step, this.#step) + pull;
    this.#mid = Math.min(this.#high, Math.max(this.#low, next));
    return this.mid;
  }

  /** A price on the order's own side of the mid: it rests unless the book is crossed. */
  restingPrice(side: Side, random: SeededRandom): number {
    return this.#away(side === 'buy' ? -1 : 1, random.int(1, LEVELS));
  }

  /** A price through the mid into the other side: it takes what rests there. */
  crossingPrice(side: Side, random: SeededRandom): number {
    return this.#away(side === 'buy' ? 1 : -1, random.int(1, CROSS_LEVELS));
  }

  quantity(random: SeededRandom): number {
    return random.int(this.#smallest, this.#largest) * this.#lot;
  }

  #away(direction: 1 | -1, levels: number): number {
    return Math.max(1, this.#mid + direction * levels * this.#step) * this.#tick;
  }
}
