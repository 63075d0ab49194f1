import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection, for tests of what must (or must not) depend on one. The flag is
 * set at run time, so the test needs no node option.
 */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
