import { bookChecksum, type BookSnapshot, type LevelView } from '../../engine/index.js';
import type { LevelChange } from './stream-payloads.js';

/** A book as of a stream seq: every level, best first, and the checksum of its top 10. */
export interface SequencedBook extends BookSnapshot {
  readonly seq: number;
  readonly checksum: number;
}

/**
 * A copy of one symbol's price levels, kept by a stream pod from a snapshot and the book
 * stream's deltas (only the engine owns a book). Levels are held sorted best first, so the
 * top 10 (the checksum) and any depth are a slice.
 */
export class BookReplica {
  #seq: number;
  readonly #bids: LevelView[];
  readonly #asks: LevelView[];

  constructor(book: Omit<SequencedBook, 'checksum'>) {
    this.#seq = book.seq;
    this.#bids = book.bids.filter((l) => l.quantity > 0).sort((a, b) => b.price - a.price);
    this.#asks = book.asks.filter((l) => l.quantity > 0).sort((a, b) => a.price - b.price);
  }

  get seq(): number {
    return this.#seq;
  }

  /** Applies the level changes of the entry at `seq` (the next one); resolves to the checksum. */
  apply(seq: number, changes: readonly LevelChange[]): number {
    if (seq !== this.#seq + 1) {
      throw new RangeError(`book delta ${seq} does not follow ${this.#seq}`);
    }
    for (const change of changes) {
      if (change.side === 'buy') setLevel(this.#bids, change, (a, b) => b - a);
      else setLevel(this.#asks, change, (a, b) => a - b);
    }
    this.#seq = seq;
    return this.checksum();
  }

  checksum(): number {
    return bookChecksum({ bids: this.#bids.slice(0, 10), asks: this.#asks.slice(0, 10) });
  }

  /** The best `depth` levels of each side (all of them by default), tagged with the seq. */
  snapshot(depth = Infinity): SequencedBook {
    return {
      seq: this.#seq,
      bids: this.#bids.slice(0, depth),
      asks: this.#asks.slice(0, depth),
      checksum: this.checksum(),
    };
  }
}

/** Sets (or removes, at 0) one level of a side kept sorted by `order` of price. */
function setLevel(
  side: LevelView[],
  change: LevelChange,
  order: (a: number, b: number) => number,
): void {
  let low = 0;
  let high = side.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (order(side[middle]?.price ?? 0, change.price) < 0) low = middle + 1;
    else high = middle;
  }
  const found = side[low]?.price === change.price;
  if (change.quantity === 0) {
    if (found) side.splice(low, 1);
  } else if (found) {
    side[low] = { price: change.price, quantity: change.quantity };
  } else {
    side.splice(low, 0, { price: change.price, quantity: change.quantity });
  }
}
