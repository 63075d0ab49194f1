/**
 * The steps of a batch's cycle, in order: its read (BEGIN, the idempotency lookup, fencing,
 * order ids, balance locks), planning in JS, waiting for the batch ahead to commit, its write,
 * its COMMIT. The next batch starts when the write is done.
 */
export const BATCH_STEPS = ['read', 'plan', 'wait', 'write', 'commit'] as const;
export type BatchStep = (typeof BATCH_STEPS)[number];

/** How long each step of one batch took, in seconds, as it goes. */
export class BatchSteps {
  readonly seconds = new Map<BatchStep, number>();
  #last = performance.now();

  /** The batch has its connection: the read starts now. */
  start(): void {
    this.#last = performance.now();
  }

  done(step: BatchStep): void {
    const now = performance.now();
    this.seconds.set(step, (now - this.#last) / 1000);
    this.#last = now;
  }
}
