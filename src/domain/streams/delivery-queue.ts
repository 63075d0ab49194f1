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
 * Messages waiting for one client. Bounded: a client that falls `max` messages or `maxBytes`
 * bytes behind is cut off with RESOURCE_EXHAUSTED (it resumes from its last position), so one
 * slow reader cannot make the server hold memory without end.
 *
 * Read synchronously with `take` and `whenReady` (or `direct`): a transport that writes what
 * waits in one go per tick pays no promise per message.
 */
export class DeliveryQueue<T> {
  /** Taken slots are cleared (undefined) until the arrays are compacted. */
  readonly #items: (T | undefined)[] = [];
  readonly #sizes: number[] = [];
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #observer: QueueObserver;
  #head = 0;
  #bytes = 0;
  #wake: (() => void) | undefined;
  #direct: ((item: T) => boolean) | undefined;
  /** Inside `take`: an item pushed meanwhile queues behind the one being taken. */
  #taking = false;
  #error: Error | undefined;
  #ended = false;
  #released = false;

  constructor(bounds: QueueBounds, observer: QueueObserver) {
    this.#max = bounds.max;
    this.#maxBytes = bounds.maxBytes;
    this.#observer = observer;
  }

  /** Bytes waiting now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Nothing more will come: ended (or failed) and everything taken. */
  get done(): boolean {
    return this.#error !== undefined || (this.#ended && this.#head === this.#items.length);
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
    // Nothing waits: the reader may take it as it comes, without queueing.
    if (this.idle && (this.#direct as (item: T) => boolean)(item)) return;
    this.#items.push(item);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
    this.#observer.queuedBytes(bytes);
    this.#wakeUp();
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
    this.#wakeUp();
  }

  /**
   * The oldest item waiting, taken; undefined when none waits (see `done`). Throws the error
   * the queue failed with.
   */
  take(): T | undefined {
    if (this.#error !== undefined) throw this.#error;
    const head = this.#head;
    if (head === this.#items.length) return undefined;
    const item = this.#items[head] as T;
    const bytes = this.#sizes[head] ?? 0;
    this.#items[head] = undefined;
    this.#head = head + 1;
    // Compact now and then rather than shifting on every take.
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#sizes.length = 0;
      this.#head = 0;
    } else if (this.#head > 1_024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#sizes.splice(0, this.#head);
      this.#head = 0;
    }
    this.#bytes -= bytes;
    // What the observer pushes in response (a conflated flush, once the queue has room again)
    // must follow `item`, which the reader has taken but not yet written.
    this.#taking = true;
    try {
      this.#observer.queuedBytes(-bytes);
    } finally {
      this.#taking = false;
    }
    return item;
  }

  /**
   * Offers each item pushed while nothing waits to `take` first: one it returns true for is
   * handed over there and then (a transport writes it in the pusher's turn, as a plain
   * broadcast would); false queues it as usual. Order holds: nothing is offered while
   * anything waits.
   */
  direct(take: (item: T) => boolean): void {
    this.#direct = take;
  }

  /** Whether an item pushed now would go straight to the reader's `direct` (nothing waits). */
  get idle(): boolean {
    return (
      this.#direct !== undefined &&
      !this.#ended &&
      !this.#taking &&
      this.#head === this.#items.length
    );
  }

  /**
   * Hands `item` to the reader's `direct` if nothing waits: true when it took it. Nothing is
   * queued either way (for a caller with another way to deliver it).
   */
  offer(item: T): boolean {
    return this.idle && (this.#direct as (item: T) => boolean)(item);
  }

  /** Calls `wake` once, when an item is pushed or the queue ends (at once if either is so). */
  whenReady(wake: () => void): void {
    if (this.#head < this.#items.length || this.#ended) {
      wake();
      return;
    }
    this.#wake = wake;
  }

  /** The reader is gone: ends the queue and drops what waits (counted out of the bytes). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#ended = true;
    this.#wake = undefined;
    this.#direct = undefined;
    const left = this.#bytes;
    if (left > 0) this.#observer.queuedBytes(-left);
    this.#bytes = 0;
    this.#items.length = 0;
    this.#sizes.length = 0;
    this.#head = 0;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    if (wake === undefined) return;
    this.#wake = undefined;
    wake();
  }
}
