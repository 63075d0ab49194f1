import { setTimeout as sleep } from 'node:timers/promises';
import { counter, gauge, type Logger, type Registry } from '../telemetry/index.js';
import type { Readiness } from './readiness.js';

/**
 * Graceful shutdown, in the order Kubernetes needs it:
 * readiness fails → wait for load balancers to notice → stop accepting and let in-flight work
 * finish within a deadline → close pools → flush telemetry → exit.
 */

/** How long a step may take once the overall deadline has passed. */
const LATE_STEP_MS = 1_000;

export const SHUTDOWN_PHASES = { running: 0, draining: 1, closing: 2, exited: 3 } as const;

export interface ShutdownStep {
  readonly name: string;
  /** Finish gracefully; resolved when done. */
  readonly run: () => Promise<void>;
  /** Called instead when the deadline has passed. */
  readonly force?: () => void;
}

export interface ShutdownOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly drainDelayMs: number;
  readonly timeoutMs: number;
}

export class Shutdown {
  readonly #steps: ShutdownStep[] = [];
  readonly #phase;
  #running: Promise<number> | undefined;

  constructor(private readonly options: ShutdownOptions) {
    this.#phase = gauge(options.registry, {
      name: 'shutdown_phase',
      help: 'Lifecycle phase: 0 running, 1 draining, 2 closing, 3 exited.',
    });
    this.#phase.set(SHUTDOWN_PHASES.running);
  }

  /** Steps run in the order they are added. */
  add(step: ShutdownStep): void {
    this.#steps.push(step);
  }

  get started(): boolean {
    return this.#running !== undefined;
  }

  /** Runs once; later calls get the same result. Resolves to the exit code. */
  run(reason: string): Promise<number> {
    this.#running ??= this.#run(reason);
    return this.#running;
  }

  async #run(reason: string): Promise<number> {
    const { logger, readiness, drainDelayMs, timeoutMs } = this.options;
    const startedAt = performance.now();
    logger.info(
      { reason, drain_delay_ms: drainDelayMs, timeout_ms: timeoutMs },
      'shutdown started',
    );
    this.#phase.set(SHUTDOWN_PHASES.draining);
    readiness.startDraining();
    await sleep(drainDelayMs);

    this.#phase.set(SHUTDOWN_PHASES.closing);
    // A ref'd timer (unlike AbortSignal.timeout): the deadline must hold the process open.
    const deadlineController = new AbortController();
    const deadlineTimer = setTimeout(() => {
      deadlineController.abort();
    }, timeoutMs);
    const deadline = deadlineController.signal;
    let exitCode = 0;
    for (const step of this.#steps) {
      // Past the deadline, later steps (pools, telemetry) still get a short, bounded try.
      const outcome = await runStep(
        step,
        deadline.aborted ? AbortSignal.timeout(LATE_STEP_MS) : deadline,
      );
      if (outcome === 'ok') continue;
      exitCode = 1;
      if (outcome === 'timeout') {
        logger.error(
          { step: step.name, timeout_ms: timeoutMs },
          'shutdown deadline passed; forcing',
        );
        step.force?.();
      } else {
        logger.error({ step: step.name, err: outcome.error }, 'shutdown step failed');
      }
    }
    clearTimeout(deadlineTimer);
    this.#phase.set(SHUTDOWN_PHASES.exited);
    logger.info(
      { reason, exit_code: exitCode, duration_ms: Math.round(performance.now() - startedAt) },
      'shutdown finished',
    );
    return exitCode;
  }
}

async function runStep(
  step: ShutdownStep,
  deadline: AbortSignal,
): Promise<'ok' | 'timeout' | { error: unknown }> {
  let onAbort: (() => void) | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    onAbort = () => {
      resolve('timeout');
    };
    deadline.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([step.run().then(() => 'ok' as const), timedOut]);
  } catch (error) {
    return { error };
  } finally {
    if (onAbort !== undefined) deadline.removeEventListener('abort', onAbort);
  }
}

/** Logged and counted, never silently swallowed; an alert watches the counter. */
export const unhandledRejections = (registry: Registry) =>
  counter(registry, {
    name: 'process_unhandled_rejections_total',
    help: 'Promise rejections that no code handled.',
  });

export function trackUnhandledRejections(logger: Logger, registry: Registry): () => void {
  const rejections = unhandledRejections(registry);
  const onRejection = (reason: unknown) => {
    rejections.inc();
    logger.error({ err: reason }, 'unhandled promise rejection');
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}
