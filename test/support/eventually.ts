import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` every 250 ms until it holds; a check that throws (a server not reachable
 * yet) counts as not yet. Fails naming `what` after `timeoutMs`.
 */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not there yet.
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
