import { PriceLevel } from './price-level.js';
import type { Side } from './types.js';

/**
 * The price levels of one side in an array sorted so that the best level is the last
 * element: reading or removing the best is O(1) (a pop), a price is found by binary search
 * (checking the touch first), and new orders, which mostly arrive near the touch, insert near
 * the end where a splice moves few elements. No Map by price: it would cost a hash lookup per
 * placement and stall on rehashing under level churn (docs/benchmarks.md).
 */
export class BookSide {
  readonly side: Side;
  private readonly sign: number;
  private readonly levels: PriceLevel[] = [];
  // Emptied levels are reused, so a busy book stops allocating once it reaches its size.
  private readonly pool: PriceLevel[] = [];

  constructor(side: Side) {
    this.side = side;
    // Bids sort by price and asks by minus price, so on both sides "higher key is better".
    this.sign = side === 'buy' ? 1 : -1;
  }

  get depth(): number {
    return this.levels.length;
  }

  best(): PriceLevel | undefined {
    return this.levels[this.levels.length - 1];
  }

  /** The level `index` places behind the best (0 is the best). */
  fromBest(index: number): PriceLevel | undefined {
    return this.levels[this.levels.length - 1 - index];
  }

  get(price: number): PriceLevel | undefined {
    const level = this.levels[this.lowerBound(this.sign * price)];
    return level?.price === price ? level : undefined;
  }

  getOrCreate(price: number): PriceLevel {
    const key = this.sign * price;
    const levels = this.levels;
    const index = this.lowerBound(key);
    const existing = levels[index];
    if (existing?.key === key) return existing;
    const level = this.pool.pop() ?? new PriceLevel(this.side);
    level.price = price;
    level.key = key;
    level.quantity = 0;
    level.count = 0;
    level.head = null;
    level.tail = null;
    level.stamp = 0;
    if (index === levels.length) levels.push(level);
    else levels.splice(index, 0, level);
    return level;
  }

  /** Removes an empty level. */
  remove(level: PriceLevel): void {
    const levels = this.levels;
    if (levels[levels.length - 1] === level) levels.pop();
    else levels.splice(this.lowerBound(level.key), 1);
    this.pool.push(level);
  }

  /**
   * Index of the first level whose key is not below `key`. Most searches are for prices at or
   * near the touch, so the last slots are checked before bisecting.
   */
  private lowerBound(key: number): number {
    const levels = this.levels;
    let high = levels.length;
    const last = levels[high - 1];
    if (last === undefined || last.key < key) return high;
    if (last.key === key) return high - 1;
    let low = 0;
    high -= 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const level = levels[mid];
      if (level !== undefined && level.key < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
