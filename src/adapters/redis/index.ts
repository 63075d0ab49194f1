export { assertNotCluster, createRedisConnection, DEFAULT_REDIS_RESILIENCE } from './client.js';
export type { RedisClientOptions, RedisConnection, RedisResilienceOptions } from './client.js';
export { reconnectDelayMs } from './reconnect-delay.js';
export type { ReconnectOptions } from './reconnect-delay.js';
export { isRedisFailure } from './redis-errors.js';
