import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry as retryPolicy,
  timeout as timeoutPolicy,
} from 'cockatiel';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DomainError, isDomainError } from '../../domain/errors.js';
import { policyMetrics } from './policy-metrics.js';
import type { RequestOutcome } from './policy-metrics.js';

export type BreakerState = 'closed' | 'half-open' | 'open';

export interface RetryOptions {
  /** Total attempts, the first one included (so 3 means at most 2 retries). */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface BreakerOptions {
  /**
   * Consecutive failed attempts that open the circuit. Consecutive rather than a ratio: our
   * dependencies fail as a whole (connection refused, server down), a streak detects that within
   * N calls at any traffic level, and it behaves the same at 1 rps and 1,000 rps, where a sampling
   * ratio needs a minimum throughput tuned per deployment. A success resets the streak.
   */
  readonly threshold: number;
  /** How long the circuit stays open before one trial call is let through (half-open). */
  readonly halfOpenAfterMs: number;
}

export interface DependencyPolicyOptions {
  /** Bounded label value: 'postgres', 'redis', 'engine', … */
  readonly dependency: string;
  /** Per attempt; the caller gets an answer after at most this long (plus retries). */
  readonly timeoutMs: number;
  /** Applied only to calls made with `{ idempotent: true }`. */
  readonly retry?: RetryOptions;
  readonly breaker: BreakerOptions;
  /**
   * Whether an error means the dependency failed (counts towards the breaker, may be retried,
   * is reported as `unavailable`) rather than an answer it gave on purpose (a unique violation,
   * a script error). Defaults to every error; a `DomainError` is never a dependency failure.
   */
  readonly isFailure?: (error: unknown) => boolean;
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface ExecuteOptions {
  /** Safe to run twice (a read, or a write keyed by an idempotency key): enables retries. */
  readonly idempotent?: boolean;
}

export interface DependencyPolicy {
  readonly dependency: string;
  /**
   * Runs `fn` under timeout → circuit breaker → (idempotent only) retry. The signal aborts when
   * the attempt times out, so `fn` can drop a connection it can no longer trust.
   * Dependency failures surface as `DomainError('unavailable', …, { dependency })`; any other
   * error from `fn` is rethrown unchanged.
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, options?: ExecuteOptions): Promise<T>;
  /** For /readyz. Half-open is entered lazily, on the first call after `halfOpenAfterMs`. */
  state(): BreakerState;
  dispose(): void;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

const toBreakerState = (state: CircuitState): BreakerState => {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
  }
};

export function createDependencyPolicy(options: DependencyPolicyOptions): DependencyPolicy {
  const { dependency, timeoutMs, logger, registry } = options;
  const { threshold, halfOpenAfterMs } = options.breaker;
  const classify = options.isFailure ?? (() => true);
  // A timeout is always a dependency failure, whatever the caller's classifier says.
  const isFailure = (error: unknown): boolean =>
    error instanceof TaskCancelledError || (!isDomainError(error) && classify(error));
  const metrics = policyMetrics(registry);
  const log = logger.child({ dependency });

  const breaker = circuitBreaker(handleWhen(isFailure), {
    halfOpenAfter: halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(threshold),
  });
  // Aggressive: the caller gets its answer at the deadline even if `fn` ignores the signal.
  // abortOnReturn false: the signal means "timed out", never "finished".
  const deadline = timeoutPolicy(timeoutMs, {
    strategy: TimeoutStrategy.Aggressive,
    abortOnReturn: false,
  });
  const retrying =
    options.retry === undefined || options.retry.maxAttempts <= 1
      ? undefined
      : retryPolicy(
          // Never retry into an open circuit: that is the breaker telling us to stop.
          handleWhen((error) => !(error instanceof BrokenCircuitError) && isFailure(error)),
          {
            maxAttempts: options.retry.maxAttempts - 1,
            backoff: new ExponentialBackoff({
              initialDelay: options.retry.initialDelayMs,
              maxDelay: options.retry.maxDelayMs,
            }),
          },
        );

  let current: BreakerState = 'closed';
  let openedAt = 0;
  metrics.breakerState.set({ dependency }, 0);
  metrics.retries.inc({ dependency }, 0);

  const retryAfterMs = (): number => Math.max(0, openedAt + halfOpenAfterMs - Date.now());

  const subscriptions = [
    breaker.onStateChange((state) => {
      const to = toBreakerState(state);
      const from = current;
      if (to === from) return;
      current = to;
      if (to === 'open') openedAt = Date.now();
      metrics.breakerState.set({ dependency }, STATE_VALUE[to]);
      metrics.breakerTransitions.inc({ dependency, from, to });
      const fields = { from, to, threshold, halfOpenAfterMs };
      if (to === 'open') {
        log.error(
          { ...fields, err: failureOf(breaker.lastFailure) },
          'circuit breaker state changed',
        );
      } else {
        log.warn(fields, 'circuit breaker state changed');
      }
    }),
    ...(retrying === undefined
      ? []
      : [
          retrying.onRetry(({ attempt, delay }) => {
            metrics.retries.inc({ dependency });
            log.debug({ attempt, delayMs: delay }, 'retrying dependency call');
          }),
        ]),
  ];

  const outcomeOf = (error: unknown): RequestOutcome => {
    if (error instanceof BrokenCircuitError) return 'rejected';
    if (error instanceof TaskCancelledError) return 'timeout';
    return isFailure(error) ? 'error' : 'success';
  };

  const attempt = async <T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const end = metrics.requestSeconds.startTimer({ dependency });
    try {
      const value = await breaker.execute(() => deadline.execute((_context, signal) => fn(signal)));
      end({ outcome: 'success' });
      return value;
    } catch (error) {
      end({ outcome: outcomeOf(error) });
      throw error;
    }
  };

  const toDomainError = (error: unknown): unknown => {
    if (error instanceof BrokenCircuitError) {
      const waitMs = retryAfterMs();
      return new DomainError(
        'unavailable',
        `${dependency} is unavailable (circuit open); retry in ~${Math.max(1, Math.ceil(waitMs / 1000))}s`,
        { dependency, retryAfterMs: waitMs, cause: error },
      );
    }
    if (error instanceof TaskCancelledError) {
      return new DomainError(
        'unavailable',
        `${dependency} did not answer within ${timeoutMs} ms; retry shortly`,
        { dependency, cause: error },
      );
    }
    if (isFailure(error)) {
      return new DomainError('unavailable', `${dependency} request failed; retry shortly`, {
        dependency,
        cause: error,
      });
    }
    return error;
  };

  return {
    dependency,
    async execute(fn, executeOptions = {}) {
      try {
        return retrying !== undefined && executeOptions.idempotent === true
          ? await retrying.execute(() => attempt(fn))
          : await attempt(fn);
      } catch (error) {
        throw toDomainError(error);
      }
    },
    state: () => current,
    dispose() {
      for (const subscription of subscriptions) subscription.dispose();
    },
  };
}

const failureOf = (reason: { error: Error } | { value: unknown } | undefined): unknown =>
  reason !== undefined && 'error' in reason ? reason.error : undefined;
