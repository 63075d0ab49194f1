import { bookChecksum, type LevelView } from '../../engine/index.js';

interface Level {
  readonly price: bigint;
  readonly quantity: bigint;
}

/** A client's order book kept from a snapshot and deltas, as docs/protocol.md says to. */
export class ClientBook {
  readonly #bids = new Map<bigint, bigint>();
  readonly #asks = new Map<bigint, bigint>();

  replace(bids: readonly Level[], asks: readonly Level[]): void {
    this.#bids.clear();
    this.#asks.clear();
    this.apply(bids, asks);
  }

  apply(bids: readonly Level[], asks: readonly Level[]): void {
    for (const [side, levels] of [
      [this.#bids, bids],
      [this.#asks, asks],
    ] as const) {
      for (const level of levels) {
        if (level.quantity === 0n) side.delete(level.price);
        else side.set(level.price, level.quantity);
      }
    }
  }

  checksum(): number {
    return topChecksum(this.#bids, this.#asks);
  }
}

/** The CRC32 of the top 10 levels per side of a book given as price → quantity. */
export function topChecksum(
  bids: ReadonlyMap<bigint, bigint>,
  asks: ReadonlyMap<bigint, bigint>,
): number {
  const list = (side: ReadonlyMap<bigint, bigint>, descending: boolean): LevelView[] =>
    [...side]
      .map(([price, quantity]) => ({ price: Number(price), quantity: Number(quantity) }))
      .sort((a, b) => (descending ? b.price - a.price : a.price - b.price))
      .slice(0, 10);
  return bookChecksum({ bids: list(bids, true), asks: list(asks, false) });
}
