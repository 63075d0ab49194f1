export { createDependencyPolicy } from './dependency-policy.js';
export type {
  BreakerOptions,
  BreakerState,
  DependencyPolicy,
  DependencyPolicyOptions,
  ExecuteOptions,
  RetryOptions,
} from './dependency-policy.js';
export type { RequestOutcome } from './policy-metrics.js';
