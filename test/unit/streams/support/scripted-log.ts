import type {
  StreamEntry,
  StreamLog,
  TailListener,
} from '../../../../src/domain/ports/stream-log.port.js';

/**
 * A stream log whose timing the test scripts: before each call resolves, `beforeEach` may append
 * entries (the relay racing the subscriber), and live entries reach listeners only when `flush`
 * runs (a reader that lags), possibly starting a few entries before the tail was asked for (a
 * reader positioned a little early). Retention drops the oldest entries.
 */
export class ScriptedLog implements StreamLog {
  readonly entries: StreamEntry[] = [];
  /** Runs at every call, before it answers. */
  beforeEach: () => void = () => undefined;
  /** How many already appended entries a new tail replays (the reader's early start). */
  earlyStart = 0;
  retention = Infinity;
  epochValue = 7;
  #head = 0;
  readonly #listeners: { listener: TailListener; next: number }[] = [];

  constructor(readonly stream: string) {}

  get head(): number {
    return this.#head;
  }

  /** Appends the next `n` entries. */
  grow(n: number): void {
    for (let i = 0; i < n; i++) {
      this.#head += 1;
      this.entries.push({ stream: this.stream, seq: this.#head, payload: `{"n":${this.#head}}` });
    }
    while (this.entries.length > this.retention) this.entries.shift();
  }

  /** Delivers up to `n` pending live entries to each listener, in order. */
  flush(n = Infinity): void {
    for (const tail of this.#listeners) {
      let delivered = 0;
      while (tail.next <= this.#head && delivered < n) {
        const entry = this.entries.find((e) => e.seq === tail.next);
        tail.next += 1;
        delivered += 1;
        // Trimmed before the reader got to it: a real reader would skip it too.
        if (entry !== undefined) tail.listener(entry);
      }
    }
  }

  append(): Promise<number> {
    throw new Error('the script appends with grow()');
  }

  read(_stream: string, afterSeq: number, limit: number): Promise<StreamEntry[]> {
    this.beforeEach();
    return Promise.resolve(this.entries.filter((e) => e.seq > afterSeq).slice(0, limit));
  }

  lastSeq(): Promise<number> {
    this.beforeEach();
    return Promise.resolve(this.#head);
  }

  tail(_stream: string, listener: TailListener): Promise<() => void> {
    this.beforeEach();
    const tail = { listener, next: Math.max(1, this.#head + 1 - this.earlyStart) };
    this.#listeners.push(tail);
    return Promise.resolve(() => {
      this.#listeners.splice(this.#listeners.indexOf(tail), 1);
    });
  }

  epoch(): Promise<number> {
    this.beforeEach();
    return Promise.resolve(this.epochValue);
  }
}
