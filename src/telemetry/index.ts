export { createLogger } from './logger.js';
export type { Logger, LoggerSettings } from './logger.js';
export {
  counter,
  createMetricsRegistry,
  gauge,
  histogram,
  LATENCY_BUCKETS,
  Registry,
} from './metrics.js';
export { OPERATIONAL_ROUTES, shutdownTracing, startTracing } from './tracing.js';
