import type { SessionRecord, SessionStore } from '../../domain/ports/session-store.port.js';

/** The in-process twin of the Redis session store; `now` injected so expiry is testable. */
export class MemorySessionStore implements SessionStore {
  readonly #records = new Map<string, { record: SessionRecord; expiresAtMs: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get(id: string): Promise<SessionRecord | undefined> {
    const stored = this.#records.get(id);
    if (stored === undefined) return Promise.resolve(undefined);
    if (stored.expiresAtMs <= this.now()) {
      this.#records.delete(id);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(stored.record);
  }

  put(record: SessionRecord, ttlSeconds: number): Promise<void> {
    this.#records.set(record.id, { record, expiresAtMs: this.now() + ttlSeconds * 1_000 });
    return Promise.resolve();
  }
}
