import type { StreamEntry, StreamLog } from '../../domain/ports/stream-log.port.js';

export interface MemoryStreamLogOptions {
  /**
   * Entries kept per stream, approximately (like XADD MAXLEN ~): a stream grows to a quarter
   * more before its oldest entries are dropped in one go, so trimming costs O(1) per entry
   * rather than shifting the whole array on every append. Default 10,000.
   */
  readonly retention?: number;
}

/** The in-process twin of the Redis stream log: one process, same contract. */
export class MemoryStreamLog implements StreamLog {
  readonly #streams = new Map<string, { entries: StreamEntry[]; last: number }>();
  readonly #retention: number;

  constructor(options: MemoryStreamLogOptions = {}) {
    this.#retention = options.retention ?? 10_000;
  }

  append(entries: readonly StreamEntry[]): Promise<number> {
    let added = 0;
    for (const entry of entries) {
      let stream = this.#streams.get(entry.stream);
      if (stream === undefined) {
        stream = { entries: [], last: 0 };
        this.#streams.set(entry.stream, stream);
      }
      if (entry.seq <= stream.last) continue;
      stream.entries.push({ stream: entry.stream, seq: entry.seq, payload: entry.payload });
      stream.last = entry.seq;
      added += 1;
      if (stream.entries.length > this.#retention + Math.ceil(this.#retention / 4)) {
        stream.entries.splice(0, stream.entries.length - this.#retention);
      }
    }
    return Promise.resolve(added);
  }

  read(stream: string, afterSeq: number, limit: number): Promise<StreamEntry[]> {
    const entries = this.#streams.get(stream)?.entries ?? [];
    // Sequences only grow: find the first entry after `afterSeq` by bisection.
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((entries[middle]?.seq ?? Infinity) <= afterSeq) low = middle + 1;
      else high = middle;
    }
    return Promise.resolve(entries.slice(low, low + limit));
  }

  lastSeq(stream: string): Promise<number> {
    return Promise.resolve(this.#streams.get(stream)?.last ?? 0);
  }
}
