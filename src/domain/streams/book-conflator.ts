import type { LevelChange, LevelsPayload } from './stream-payloads.js';

/** Several book deltas folded into one: the latest quantity of each level they changed. */
export interface ConflatedLevels {
  /** The first seq folded in: the message follows a book at `firstSeq - 1`. */
  readonly firstSeq: number;
  /** The last seq folded in; `checksum` is the book's after it. */
  readonly lastSeq: number;
  readonly levels: readonly LevelChange[];
  readonly checksum: number;
  /** Deltas folded into this one. */
  readonly count: number;
}

/**
 * Folds one book stream's consecutive deltas into a single change, for a client that cannot
 * take every delta (a poor link, a full send queue). Applying the result to the book at
 * `firstSeq - 1` gives the book at `lastSeq`, whose checksum the last delta carries, so the
 * client's gap check and checksum still hold. Pure: the caller decides when to take.
 */
export class BookConflator {
  /** Keyed by side and price; insertion order is kept, so the output is stable. */
  readonly #levels = new Map<string, LevelChange>();
  #firstSeq = 0;
  #lastSeq = 0;
  #checksum = 0;
  #count = 0;

  get pending(): boolean {
    return this.#count > 0;
  }

  /** Folds the delta at `seq`, which must follow the last one folded. */
  add(seq: number, delta: LevelsPayload): void {
    if (this.#count > 0 && seq !== this.#lastSeq + 1) {
      throw new RangeError(`book delta ${seq} does not follow ${this.#lastSeq}`);
    }
    if (this.#count === 0) this.#firstSeq = seq;
    for (const level of delta.levels) this.#levels.set(`${level.side}:${level.price}`, level);
    this.#lastSeq = seq;
    this.#checksum = delta.checksum ?? 0;
    this.#count += 1;
  }

  /** What was folded since the last take, and starts over; undefined when nothing was. */
  take(): ConflatedLevels | undefined {
    if (this.#count === 0) return undefined;
    const taken: ConflatedLevels = {
      firstSeq: this.#firstSeq,
      lastSeq: this.#lastSeq,
      levels: [...this.#levels.values()],
      checksum: this.#checksum,
      count: this.#count,
    };
    this.reset();
    return taken;
  }

  /** Drops what was folded (a fresh snapshot supersedes it). */
  reset(): void {
    this.#levels.clear();
    this.#count = 0;
  }
}
