import type { TailListener } from '../../domain/ports/stream-log.port.js';

/** One `add` of a listener to a stream's tail. */
export interface TailSubscription {
  /** Whether the stream still has the listener set this was added to (none emptied it since). */
  current(): boolean;
  /** Takes this listener away; true when it was the stream's last (the stream is untailed). */
  remove(): boolean;
}

/**
 * The listeners of each tailed stream, shared by the stream log adapters. Each `add` holds a
 * listener of its own, so one function tailed twice is called twice and each removal takes
 * away one.
 */
export class TailListeners {
  readonly #byStream = new Map<string, Set<TailListener>>();

  add(stream: string, listener: TailListener): TailSubscription {
    let own = this.#byStream.get(stream);
    if (own === undefined) {
      own = new Set();
      this.#byStream.set(stream, own);
    }
    const group = own;
    const wrapped: TailListener = (entry) => {
      listener(entry);
    };
    group.add(wrapped);
    return {
      current: () => this.#byStream.get(stream) === group,
      remove: () => {
        group.delete(wrapped);
        if (group.size > 0 || this.#byStream.get(stream) !== group) return false;
        this.#byStream.delete(stream);
        return true;
      },
    };
  }

  /** The stream's listeners; undefined when nobody tails it. */
  of(stream: string): ReadonlySet<TailListener> | undefined {
    return this.#byStream.get(stream);
  }
}
