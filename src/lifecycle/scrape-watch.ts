import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../telemetry/index.js';
import type { ShutdownStep } from './shutdown.js';

export type LingerOutcome = 'scraped' | 'no scrape';

/** Resolves after `ms`, or early (either way) once `signal` aborts. */
export type LingerSleep = (ms: number, signal: AbortSignal) => Promise<unknown>;

const realSleep: LingerSleep = (ms, signal) => sleep(ms, undefined, { signal });

interface Waiter {
  /** Scrapes that began up to this count were already under way: they do not count. */
  readonly after: number;
  readonly resolve: () => void;
}

/**
 * The `/metrics` scrapes this process answers, so that a process going away can wait until
 * one has read what it measured last. A stream drain's duration is observed after the last
 * regular scrape, moments before the exit: without a scrape after it, no Prometheus ever sees
 * it.
 */
export class ScrapeWatch {
  #began = 0;
  readonly #waiters = new Set<Waiter>();

  /** Called as a scrape begins to collect; the returned function once its answer is sent. */
  begin(): () => void {
    this.#began += 1;
    const scrape = this.#began;
    return () => {
      for (const waiter of this.#waiters) {
        if (scrape > waiter.after) waiter.resolve();
      }
    };
  }

  /**
   * Resolves `scraped` once a scrape that began after this call has been answered (so it read
   * every value set before the call), or `no scrape` after `maxMs`.
   */
  async next(maxMs: number, wait: LingerSleep = realSleep): Promise<LingerOutcome> {
    const bound = new AbortController();
    let waiter: Waiter | undefined;
    const scraped = new Promise<LingerOutcome>((resolve) => {
      waiter = {
        after: this.#began,
        resolve: () => {
          resolve('scraped');
        },
      };
      this.#waiters.add(waiter);
    });
    // An aborted sleep rejects: by then the race is decided.
    const timedOut = wait(maxMs, bound.signal).then(
      () => 'no scrape' as const,
      () => 'no scrape' as const,
    );
    try {
      return await Promise.race([scraped, timedOut]);
    } finally {
      bound.abort();
      if (waiter !== undefined) this.#waiters.delete(waiter);
    }
  }
}

export interface LingerOptions {
  readonly scrapes: ScrapeWatch;
  /** The longest wait; with no scraper at all, the step takes exactly this long. */
  readonly maxMs: number;
  readonly logger: Logger;
  /** Injected so tests need no real time. */
  readonly sleep?: LingerSleep;
}

/**
 * A shutdown step that keeps the process (and its `/metrics`) up after what came before it
 * until a scrape has read the values it left, or `maxMs` has passed. Readiness stays failed
 * throughout: only scrapers still come.
 */
export function lingerForScrapeStep(options: LingerOptions): ShutdownStep {
  const { scrapes, maxMs, logger } = options;
  return {
    name: 'last scrape',
    run: async () => {
      const startedAt = performance.now();
      const outcome = await scrapes.next(maxMs, options.sleep);
      logger.info(
        { outcome, waited_ms: Math.round(performance.now() - startedAt), max_ms: maxMs },
        'last scrape awaited',
      );
    },
  };
}
