/**
 * Reconnect delays: exponential backoff with full jitter, as centrifuge-js does (0.5 s to
 * 20 s). The delay is drawn between the minimum and the exponential cap, so it is never
 * below the minimum: no zero-delay loop, whatever ended the last connection.
 */
export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  /** A number in [0, 1), injected so tests are deterministic. */
  readonly random: () => number;
}

export const DEFAULT_BACKOFF = { minMs: 500, maxMs: 20_000 } as const;

export class Backoff {
  #attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** Failures since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next try; each call counts one more failure. */
  next(): number {
    const { minMs, maxMs, random } = this.options;
    const cap = Math.min(maxMs, minMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt += 1;
    return Math.round(minMs + random() * (cap - minMs));
  }

  /** After a stable period: the next failure starts again from the minimum. */
  reset(): void {
    this.#attempt = 0;
  }
}
