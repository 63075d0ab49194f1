/**
 * Concurrent-use quotas shared by every pod: open orders, stream subscriptions and connections
 * per user. Unlike a rate limit, a unit is held until it is released.
 *
 * Counts are not leases: a process that dies holding units leaks them until the adapter's idle
 * expiry (if configured) clears the key, or the owner reconciles the counts with its source of
 * truth (`keys` + `set`, e.g. open orders in PostgreSQL when an engine shard starts).
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
  /**
   * Reconciliation only: overwrites the units held by `key` with `units` (integer ≥ 0; 0 removes
   * the key) and resolves to the units held just before. Units acquired concurrently are
   * overwritten, so call it only while no one acquires or releases `key`.
   */
  set(key: string, units: number): Promise<number>;
  /**
   * Reconciliation only: every key starting with `prefix` that holds units, in no particular
   * order. Walks the whole keyspace of the counter (Redis SCAN): fine at start-up, not per call.
   */
  keys(prefix: string): Promise<string[]>;
}
