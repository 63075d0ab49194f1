import type { Every } from '../../../../src/domain/streams/stream-connection.js';

/** Timers driven by the test: `fire(ms)` runs every callback registered with that period. */
export class FakeTimers {
  readonly #timers = new Set<{ ms: number; fn: () => void }>();
  readonly every: Every = (ms, fn) => {
    const timer = { ms, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  };
  fire(ms: number): void {
    for (const timer of [...this.#timers]) if (timer.ms === ms) timer.fn();
  }
}
