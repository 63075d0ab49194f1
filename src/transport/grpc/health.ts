import { HealthImplementation } from 'grpc-health-check';
import type { Readiness } from '../../lifecycle/readiness.js';

/**
 * `grpc.health.v1.Health` mirroring the process's readiness: SERVING while ready, NOT_SERVING
 * while a dependency is down or the process drains. The empty service name stands for the
 * whole server, as the protocol specifies; each of ours is listed too.
 */
export function healthService(readiness: Readiness, serviceNames: readonly string[]) {
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  const apply = (ready: boolean) => {
    for (const name of ['', ...serviceNames]) {
      health.setStatus(name, ready ? 'SERVING' : 'NOT_SERVING');
    }
  };
  apply(readiness.isReady);
  readiness.onChange(apply);
  return health;
}
