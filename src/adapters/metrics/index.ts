export { createUpSignal } from './up-gauge.js';
export type { UpSignal, UpSignalOptions } from './up-gauge.js';
export { startHealthCheck } from './health-check.js';
export type { HealthCheck, HealthCheckOptions } from './health-check.js';
