/**
 * Concurrent-use quotas shared by every pod: open orders, stream subscriptions and connections
 * per user. Unlike a rate limit, a unit is held until it is released.
 *
 * Counts are not leases: a process that dies holding units leaks them until the adapter's idle
 * expiry (if configured) clears the key, or the owner releases them on a later reconciliation.
 */
export interface QuotaAcquisition {
  readonly acquired: boolean;
  /** Units held after this call. */
  readonly current: number;
  /** Units still available under `limit` after this call. */
  readonly remaining: number;
}

export interface QuotaCounter {
  /** Atomically takes one unit of `key` if fewer than `limit` (integer ≥ 0) are held. */
  acquire(key: string, limit: number): Promise<QuotaAcquisition>;
  /** Gives one unit back; never goes below zero. Resolves to the units still held. */
  release(key: string): Promise<number>;
  /** Units currently held. */
  current(key: string): Promise<number>;
}
