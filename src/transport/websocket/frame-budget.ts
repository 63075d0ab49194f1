/**
 * A token bucket over the frames one connection sends: `burst` at once, refilled at
 * `ratePerSec`. Local to the connection, so no shared store is touched per frame.
 */
export class FrameBudget {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(limit: { ratePerSec: number; burst: number }, now: () => number) {
    this.#ratePerMs = limit.ratePerSec / 1000;
    this.#burst = limit.burst;
    this.#now = now;
    this.#tokens = limit.burst;
    this.#at = now();
  }

  /** Takes one frame's token; false when the bucket is empty. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#ratePerMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
