export interface ReconnectOptions {
  /** Cap of the first delay. */
  readonly initialDelayMs: number;
  /** Upper bound of any delay, however long the outage. */
  readonly maxDelayMs: number;
}

/**
 * Capped exponential backoff with full jitter: a random delay in [0, min(max, initial·2^(n-1))].
 * The jitter spreads the reconnects of every pod after a Redis restart instead of having them
 * all knock at once. `random` is injectable so tests are deterministic.
 */
export function reconnectDelayMs(
  attempt: number,
  options: ReconnectOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  return Math.round(cap * random());
}
