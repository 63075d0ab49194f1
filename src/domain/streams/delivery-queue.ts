import { DomainError } from '../errors.js';

export interface QueueObserver {
  /** Bytes waiting changed by `delta` (positive when queued, negative when taken). */
  queuedBytes(delta: number): void;
  /** The consumer fell `max` messages or `maxBytes` bytes behind and was cut off. */
  overflowed(): void;
}

export interface QueueBounds {
  /** Messages waiting. */
  readonly max: number;
  /** Bytes waiting (as given to `push`). */
  readonly maxBytes: number;
}

/**
 * Messages waiting for one client, as an async iterable the transport writes from. Bounded: a
 * client that falls `max` messages or `maxBytes` bytes behind is cut off with
 * RESOURCE_EXHAUSTED (it resumes from its last position), so one slow reader cannot make the
 * server hold memory without end.
 */
export class DeliveryQueue<T> implements AsyncIterable<T> {
  /** Taken slots are cleared (undefined) until the array is compacted. */
  readonly #items: ({ item: T; bytes: number } | undefined)[] = [];
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #observer: QueueObserver;
  #head = 0;
  #bytes = 0;
  #wake: (() => void) | undefined;
  #error: Error | undefined;
  #ended = false;

  constructor(bounds: QueueBounds, observer: QueueObserver) {
    this.#max = bounds.max;
    this.#maxBytes = bounds.maxBytes;
    this.#observer = observer;
  }

  /** Bytes waiting now. */
  get bytes(): number {
    return this.#bytes;
  }

  push(item: T, bytes: number): void {
    if (this.#ended) return;
    const behind =
      this.#items.length - this.#head >= this.#max
        ? `${this.#max} messages`
        : this.#bytes + bytes > this.#maxBytes
          ? `${this.#maxBytes} bytes`
          : undefined;
    if (behind !== undefined) {
      this.#observer.overflowed();
      this.fail(
        new DomainError(
          'resource_exhausted',
          `the client fell ${behind} behind (reading too slowly); reconnect and resume from the last positions`,
          { retryAfterMs: 1_000 },
        ),
      );
      return;
    }
    this.#items.push({ item, bytes });
    this.#bytes += bytes;
    this.#observer.queuedBytes(bytes);
    this.#wake?.();
  }

  /** Ends the iteration with `error` at once; what is still queued is dropped. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error instanceof Error ? error : new Error(String(error));
    this.end();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        if (this.#error !== undefined) throw this.#error;
        const next = this.#items[this.#head];
        if (next !== undefined) {
          this.#items[this.#head] = undefined;
          this.#head += 1;
          // Compact now and then rather than shifting on every take.
          if (this.#head > 1_024 && this.#head * 2 > this.#items.length) {
            this.#items.splice(0, this.#head);
            this.#head = 0;
          }
          this.#bytes -= next.bytes;
          this.#observer.queuedBytes(-next.bytes);
          yield next.item;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    } finally {
      this.#ended = true;
      let left = 0;
      for (let i = this.#head; i < this.#items.length; i++) left += this.#items[i]?.bytes ?? 0;
      if (left > 0) this.#observer.queuedBytes(-left);
      this.#bytes = 0;
      this.#items.length = 0;
      this.#head = 0;
    }
  }
}
