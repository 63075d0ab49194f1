import type { Pool } from 'pg';
import type { Histogram, Registry } from 'prom-client';
import { gauge, histogram } from '../../telemetry/metrics.js';

/**
 * `db_pool_connections{state}` is read from the pools at scrape time (a collect callback), so it
 * is never stale. Every pool wired to a registry is summed into the same series: they are the
 * process's connections, and a pod normally has exactly one pool.
 */
const poolsByRegistry = new WeakMap<Registry, Set<Pool>>();

export interface PoolMetrics {
  readonly acquireSeconds: Histogram;
  /** Stops counting this pool (on close). */
  untrack(): void;
}

export function trackPool(registry: Registry, pool: Pool): PoolMetrics {
  let pools = poolsByRegistry.get(registry);
  if (pools === undefined) {
    pools = new Set();
    poolsByRegistry.set(registry, pools);
  }
  const tracked = pools;
  tracked.add(pool);

  gauge(registry, {
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections: total open, idle, and callers waiting for one.',
    labelNames: ['state'],
    collect() {
      let total = 0;
      let idle = 0;
      let waiting = 0;
      for (const p of tracked) {
        total += p.totalCount;
        idle += p.idleCount;
        waiting += p.waitingCount;
      }
      this.set({ state: 'total' }, total);
      this.set({ state: 'idle' }, idle);
      this.set({ state: 'waiting' }, waiting);
    },
  });
  const acquireSeconds = histogram(registry, {
    name: 'db_pool_acquire_seconds',
    help: 'Time to obtain a PostgreSQL connection from the pool (pool.connect()).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });

  return {
    acquireSeconds,
    untrack: () => {
      tracked.delete(pool);
    },
  };
}
