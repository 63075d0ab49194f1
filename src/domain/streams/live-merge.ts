import type { StreamEntry } from '../ports/stream-log.port.js';

/** What a merge step hands on: the entries to deliver now, or the news that one is missing. */
export type MergeResult =
  | { readonly ok: true; readonly deliver: readonly StreamEntry[] }
  | { readonly ok: false; readonly missing: number };

const NOTHING: MergeResult = { ok: true, deliver: [] };

/**
 * Joins one stream's live tail with a read of its history, by seq (what Centrifugo's
 * `MergePublications` and Binance's `U`/`u` rules do): live entries are buffered until the
 * starting position and the history after it are known, then every seq is delivered once, in
 * order. A seq that cannot be delivered because one before it is missing is reported instead,
 * never skipped. Pure: the caller does the reading and the waiting.
 */
export class LiveMerge {
  readonly #maxBuffered: number;
  #buffer: StreamEntry[] = [];
  /** The last seq delivered (or the starting position); undefined until started. */
  #last: number | undefined;
  #overflowed = false;

  /** `maxBuffered`: live entries kept while the history is read; beyond it, start over. */
  constructor(maxBuffered: number) {
    this.#maxBuffered = maxBuffered;
  }

  get started(): boolean {
    return this.#last !== undefined;
  }

  /** The last seq delivered, or the starting position before any. */
  get last(): number | undefined {
    return this.#last;
  }

  /** The highest live seq received so far while not started (0 when none). */
  get bufferedHead(): number {
    return this.#buffer.at(-1)?.seq ?? 0;
  }

  /**
   * Takes a live entry that directly follows the last seq delivered (the common case, with
   * nothing to allocate) and returns true; false, taking nothing, for any other entry, which
   * goes to `push`.
   */
  advance(entry: StreamEntry): boolean {
    if (this.#last === undefined || entry.seq !== this.#last + 1) return false;
    this.#last = entry.seq;
    return true;
  }

  /**
   * Entries up to `seq` were delivered past the merge (the fan-out's fast path, which checks
   * the same rule): the merge goes on after `seq`.
   */
  deliveredTo(seq: number): void {
    if (this.#last !== undefined && seq > this.#last) this.#last = seq;
  }

  /** A live entry: buffered before `start`, delivered (or dropped as a repeat) after. */
  push(entry: StreamEntry): MergeResult {
    if (this.#last === undefined) {
      if (this.#buffer.length >= this.#maxBuffered) this.#overflowed = true;
      else this.#buffer.push(entry);
      return NOTHING;
    }
    if (entry.seq <= this.#last) return NOTHING;
    if (entry.seq !== this.#last + 1) return { ok: false, missing: this.#last + 1 };
    this.#last = entry.seq;
    return { ok: true, deliver: [entry] };
  }

  /**
   * Starts after `position` with `history`, the entries read after it (oldest first): delivers
   * them, then the buffered live entries that follow, dropping repeats. Reports the first
   * missing seq if the history does not begin right after `position`, has a hole, or the live
   * entries do not join it.
   */
  start(position: number, history: readonly StreamEntry[]): MergeResult {
    const buffered = this.#buffer;
    this.#buffer = [];
    if (this.#overflowed) {
      this.#overflowed = false;
      return { ok: false, missing: position + 1 };
    }
    this.#last = position;
    const deliver: StreamEntry[] = [];
    for (const entry of [...history, ...buffered]) {
      if (entry.seq <= this.#last) continue;
      if (entry.seq !== this.#last + 1) {
        const missing = this.#last + 1;
        this.#last = undefined;
        return { ok: false, missing };
      }
      this.#last = entry.seq;
      deliver.push(entry);
    }
    return { ok: true, deliver };
  }

  /** Back to buffering, for a fresh start (a new snapshot) after something went missing. */
  reset(): void {
    this.#last = undefined;
    this.#buffer = [];
    this.#overflowed = false;
  }
}
