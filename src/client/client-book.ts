import { bookChecksum } from './book-checksum.js';

export interface BookLevel {
  readonly price: bigint;
  readonly quantity: bigint;
}

/** A read-only view of a book: levels best first, the seq it reflects, verified or not. */
export interface BookView {
  readonly symbol: string;
  readonly seq: bigint;
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
  /** The last checksum the server sent, equal to the book's own (else the book is dropped). */
  readonly checksum: number;
}

type Side = Map<bigint, bigint>;

/**
 * One symbol's book as the client keeps it (docs/protocol.md, "Books"): replaced by a
 * snapshot, changed by deltas whose quantity 0 removes a level, and proven after each change
 * by the CRC32 of its top levels.
 */
export class ClientBook {
  readonly #bids: Side = new Map();
  readonly #asks: Side = new Map();
  #seq = 0n;
  #checksum = 0;

  constructor(readonly symbol: string) {}

  get seq(): bigint {
    return this.#seq;
  }

  /** Replaces the book; true when the snapshot's checksum matches its levels. */
  snapshot(
    seq: bigint,
    bids: readonly BookLevel[],
    asks: readonly BookLevel[],
    checksum: number,
  ): boolean {
    this.#bids.clear();
    this.#asks.clear();
    return this.delta(seq, bids, asks, checksum);
  }

  /** Applies changed levels at `seq`; true when the result matches `checksum`. */
  delta(
    seq: bigint,
    bids: readonly BookLevel[],
    asks: readonly BookLevel[],
    checksum: number,
  ): boolean {
    apply(this.#bids, bids);
    apply(this.#asks, asks);
    this.#seq = seq;
    this.#checksum = checksum;
    const view = this.view(10);
    return bookChecksum(view.bids, view.asks) === checksum;
  }

  /** The top `depth` levels of each side, best first. */
  view(depth = Number.POSITIVE_INFINITY): BookView {
    return {
      symbol: this.symbol,
      seq: this.#seq,
      bids: sorted(this.#bids, (a, b) => (a > b ? -1 : 1), depth),
      asks: sorted(this.#asks, (a, b) => (a < b ? -1 : 1), depth),
      checksum: this.#checksum,
    };
  }
}

function apply(side: Side, levels: readonly BookLevel[]): void {
  for (const { price, quantity } of levels) {
    if (quantity === 0n) side.delete(price);
    else side.set(price, quantity);
  }
}

function sorted(side: Side, order: (a: bigint, b: bigint) => number, depth: number): BookLevel[] {
  return [...side.keys()]
    .sort(order)
    .slice(0, depth)
    .map((price) => ({ price, quantity: side.get(price) ?? 0n }));
}
