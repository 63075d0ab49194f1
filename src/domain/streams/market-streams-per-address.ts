import { addressKey } from '../address-key.js';
import { DomainError } from '../errors.js';

/**
 * The market data streams open at once on this process per client address (an IPv6 client's
 * /64 counts as one address, address-key.ts): a Subscribe call, or a subscribe frame on /ws,
 * holds one until it ends. Public market data needs no token, so without this one address could
 * hold any number of streams, each with its send queue, heartbeats and fan-out.
 *
 * Counted per process, not shared through Redis like the rate limits: what a stream holds (its
 * socket, memory and fan-out) is this process's, and a shared count would keep the slots of a
 * process killed without releasing them until some lease ran out.
 */
export class MarketStreamsPerAddress {
  readonly #open = new Map<string, number>();
  readonly #refused: () => void;

  /** `refused` counts each refusal (the caller's metric). */
  constructor(
    readonly max: number,
    refused: () => void = () => undefined,
  ) {
    this.#refused = refused;
  }

  /** Streams open for `address`'s key now. */
  openFor(address: string): number {
    return this.#open.get(addressKey(address)) ?? 0;
  }

  /**
   * Takes one stream's slot for `address` and returns what gives it back (at most once);
   * throws `resource_exhausted` when the address already holds `max`.
   */
  acquire(address: string): () => void {
    const key = addressKey(address);
    const open = this.#open.get(key) ?? 0;
    if (open >= this.max) {
      this.#refused();
      throw new DomainError(
        'resource_exhausted',
        `at most ${this.max} open market data streams per address: close one, or ask for several symbols in one Subscribe`,
      );
    }
    this.#open.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left === 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
