import { DomainError } from '../errors.js';
import type { QuotaCounter } from '../ports/quota.port.js';

/** What one reconciliation of the open-order counters found and fixed. */
export interface QuotaReconciliation {
  /** Users with open orders: their counters now hold exactly that many units. */
  readonly users: number;
  /** Units held after reconciliation: the open orders. */
  readonly units: number;
  /** Counters whose count was wrong (includes counters of users with no open order left). */
  readonly corrected: number;
  /** Units that were counted without an open order behind them (leaked by a crash). */
  readonly leaked: number;
  /** Open orders that held no unit (a counter lost or expired too early). */
  readonly missing: number;
}

/** Counters set concurrently during a reconciliation; bounds the commands in flight. */
const RECONCILE_CONCURRENCY = 256;

/**
 * At most `limit` open (resting) orders per user, shared by every pod through the quota port.
 * A unit is taken before an order that may rest is placed and given back when it turns out not
 * to rest, or later when it is filled or canceled. Counts are not leases: a crash between the
 * commit and the release leaks a unit. `reconcile` repairs that: the orders module runs it when
 * its engine shards start, with the open orders committed in PostgreSQL as the truth.
 */
export class OpenOrderQuota {
  constructor(
    private readonly counter: QuotaCounter,
    private readonly limit: number,
  ) {}

  async take(userId: number): Promise<void> {
    const result = await this.counter.acquire(key(userId), this.limit);
    if (!result.acquired) {
      throw new DomainError(
        'resource_exhausted',
        `you have ${result.current} open orders; the limit is ${this.limit}: cancel one first`,
      );
    }
  }

  async give(userId: number): Promise<void> {
    await this.counter.release(key(userId));
  }

  /**
   * Sets every user's counter to their open orders (`openOrders`: user id → count, every symbol)
   * and clears the counters of everyone else. Exact only while nobody takes or gives units:
   * a unit taken for an order not yet committed would be overwritten (see the caller).
   */
  async reconcile(openOrders: ReadonlyMap<number, number>): Promise<QuotaReconciliation> {
    const targets = new Map<string, number>();
    for (const stale of await this.counter.keys(PREFIX)) targets.set(stale, 0);
    let users = 0;
    let units = 0;
    for (const [userId, open] of openOrders) {
      if (open <= 0) continue;
      targets.set(key(userId), open);
      users += 1;
      units += open;
    }
    let corrected = 0;
    let leaked = 0;
    let missing = 0;
    const entries = [...targets];
    for (let i = 0; i < entries.length; i += RECONCILE_CONCURRENCY) {
      const chunk = entries.slice(i, i + RECONCILE_CONCURRENCY);
      const before = await Promise.all(chunk.map(([k, open]) => this.counter.set(k, open)));
      chunk.forEach(([, open], j) => {
        const held = before[j] ?? 0;
        if (held !== open) corrected += 1;
        if (held > open) leaked += held - open;
        else missing += open - held;
      });
    }
    return { users, units, corrected, leaked, missing };
  }
}

const PREFIX = 'open_orders:';
const key = (userId: number) => `${PREFIX}${userId}`;
