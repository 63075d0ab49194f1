/**
 * Per-key rate limiting (per user, per login IP, per login username), shared by every pod.
 *
 * Semantics (GCRA, equivalent to a token bucket refilled continuously): a key may spend up to
 * `burst` units at once, and regains `ratePerSec` units per second up to `burst`. A request of
 * `cost` units is allowed only if all of them are available; a rejected request spends nothing.
 */
export interface RateLimit {
  /** Sustained rate, units per second (> 0). */
  readonly ratePerSec: number;
  /** Units that can be spent at once (integer ≥ 1). */
  readonly burst: number;
}

export interface ConsumeOptions extends RateLimit {
  /** Units this request spends (integer, 0 ≤ cost ≤ burst; 0 only peeks). Default 1. */
  readonly cost?: number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Units that could still be spent right now (after this request, when allowed). */
  readonly remaining: number;
  /** 0 when allowed; otherwise how long until this same request would be allowed. */
  readonly retryAfterMs: number;
  /** How long until the key is back to a full burst. */
  readonly resetAfterMs: number;
}

export interface RateLimiter {
  /**
   * Atomically spends `cost` units of `key` if they are available.
   * Throws `RangeError` for impossible limits (cost above burst, non-positive rate), and
   * `DomainError('unavailable', …, { dependency })` when the backing store cannot answer.
   */
  consume(key: string, options: ConsumeOptions): Promise<RateLimitDecision>;
}
