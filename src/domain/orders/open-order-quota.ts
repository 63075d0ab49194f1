import { DomainError } from '../errors.js';
import type { QuotaCounter } from '../ports/quota.port.js';

/**
 * At most `limit` open (resting) orders per user, shared by every pod through the quota port.
 * A unit is taken before an order that may rest is placed and given back when it turns out not
 * to rest, or later when it is filled or canceled. Counts are not leases: a crash between the
 * commit and the release leaks a unit until the counter's idle expiry.
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
}

const key = (userId: number) => `open_orders:${userId}`;
