import type { StreamEntry, StreamLog } from '../../domain/ports/stream-log.port.js';

export interface MemoryStreamLogOptions {
  /** Entries kept per stream; older ones are dropped (like XADD MAXLEN). Default 10,000. */
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
      if (stream.entries.length > this.#retention) {
        stream.entries.splice(0, stream.entries.length - this.#retention);
      }
    }
    return Promise.resolve(added);
  }

  read(stream: string, afterSeq: number, limit: number): Promise<StreamEntry[]> {
    const entries = this.#streams.get(stream)?.entries ?? [];
    return Promise.resolve(entries.filter((entry) => entry.seq > afterSeq).slice(0, limit));
  }

  lastSeq(stream: string): Promise<number> {
    return Promise.resolve(this.#streams.get(stream)?.last ?? 0);
  }
}
