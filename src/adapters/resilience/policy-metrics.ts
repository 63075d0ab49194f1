import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { counter, gauge, histogram } from '../../telemetry/metrics.js';

/** Outcome of one attempt against a dependency, as seen by the caller. */
export type RequestOutcome = 'success' | 'error' | 'timeout' | 'rejected';

/** Metric names and labels from docs/metrics.md (the contract); dashboards and alerts depend on them. */
export interface PolicyMetrics {
  /** 0 closed, 1 half-open, 2 open. */
  readonly breakerState: Gauge<'dependency'>;
  readonly breakerTransitions: Counter<'dependency' | 'from' | 'to'>;
  readonly requestSeconds: Histogram<'dependency' | 'outcome'>;
  readonly retries: Counter<'dependency'>;
}

export function policyMetrics(registry: Registry): PolicyMetrics {
  return {
    breakerState: gauge(registry, {
      name: 'circuit_breaker_state',
      help: 'Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.',
      labelNames: ['dependency'],
    }),
    breakerTransitions: counter(registry, {
      name: 'circuit_breaker_transitions_total',
      help: 'Circuit breaker state changes per dependency, by previous and new state.',
      labelNames: ['dependency', 'from', 'to'],
    }),
    requestSeconds: histogram(registry, {
      name: 'dependency_request_seconds',
      help: 'Duration of each attempt against a dependency, by outcome (success, error, timeout, rejected).',
      labelNames: ['dependency', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    retries: counter(registry, {
      name: 'retries_total',
      help: 'Retried attempts against a dependency (idempotent calls only).',
      labelNames: ['dependency'],
    }),
  };
}
