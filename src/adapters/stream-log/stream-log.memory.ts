import type { StreamEntry, StreamLog, TailListener } from '../../domain/ports/stream-log.port.js';
import { TailListeners } from './tail-listeners.js';

export interface MemoryStreamLogOptions {
  /**
   * Entries kept per stream, approximately (like XADD MAXLEN ~): a stream grows to a quarter
   * more before its oldest entries are dropped in one go, so trimming costs O(1) per entry
   * rather than shifting the whole array on every append. Default 10,000.
   */
  readonly retention?: number;
  /** This log's epoch. Default: the time it was created, in ms (a new process, a new history). */
  readonly epoch?: number;
}

/** The in-process twin of the Redis stream log: one process, same contract. */
export class MemoryStreamLog implements StreamLog {
  readonly #streams = new Map<string, { entries: StreamEntry[]; last: number }>();
  readonly #retention: number;
  readonly #epoch: number;
  readonly #listeners = new TailListeners();

  constructor(options: MemoryStreamLogOptions = {}) {
    this.#retention = options.retention ?? 10_000;
    this.#epoch = options.epoch ?? Date.now();
  }

  append(entries: readonly StreamEntry[]): Promise<number> {
    const fresh: StreamEntry[] = [];
    for (const entry of entries) {
      let stream = this.#streams.get(entry.stream);
      if (stream === undefined) {
        stream = { entries: [], last: 0 };
        this.#streams.set(entry.stream, stream);
      }
      if (entry.seq <= stream.last) continue;
      const stored = { stream: entry.stream, seq: entry.seq, payload: entry.payload };
      stream.entries.push(stored);
      stream.last = entry.seq;
      fresh.push(stored);
      if (stream.entries.length > this.#retention + Math.ceil(this.#retention / 4)) {
        stream.entries.splice(0, stream.entries.length - this.#retention);
      }
    }
    // After storing, so a listener that reads the log on an entry finds it there.
    for (const entry of fresh) {
      for (const listener of this.#listeners.of(entry.stream) ?? []) notify(listener, entry);
    }
    return Promise.resolve(fresh.length);
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

  /** Appends notify listeners synchronously: nothing can be appended between two entries. */
  tail(stream: string, listener: TailListener): Promise<() => void> {
    const subscription = this.#listeners.add(stream, listener);
    return Promise.resolve(() => {
      subscription.remove();
    });
  }

  epoch(): Promise<number> {
    return Promise.resolve(this.#epoch);
  }
}

/** A listener that throws must not stop the others, nor fail the append (the relay's write). */
function notify(listener: TailListener, entry: StreamEntry): void {
  try {
    listener(entry);
  } catch {
    // The listener's owner handles its own failures; the log has done its part.
  }
}
