/**
 * Runs each function handed to `writeSoon` once, in one microtask after the code that handed
 * it over: a log tail hands an entry (or a batch of entries) to every subscriber, each
 * connection asks to be written, and each then writes everything it has waiting in one go.
 * One microtask per batch rather than one promise per message and connection.
 */
let waiting: (() => void)[] = [];
let scheduled = false;

export function writeSoon(write: () => void): void {
  waiting.push(write);
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(runWaiting);
}

function runWaiting(): void {
  scheduled = false;
  const batch = waiting;
  waiting = [];
  for (const write of batch) {
    try {
      write();
    } catch (error) {
      // A writer handles its own failures; one that throws is a bug, reported as one without
      // leaving the other connections unwritten.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
