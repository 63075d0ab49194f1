import v8 from 'node:v8';

/**
 * V8 settings the service runs with, applied when this module is evaluated: import it first
 * (main.ts and the benchmarks do). NODE_OPTIONS cannot carry this flag, hence code.
 *
 * No allocation-site pretenuring: under load V8 had moved short-lived order objects straight to
 * the old generation, which made every young collection slower (docs/benchmarks.md,
 * "No allocation-site pretenuring").
 */
v8.setFlagsFromString('--no-allocation-site-pretenuring');
