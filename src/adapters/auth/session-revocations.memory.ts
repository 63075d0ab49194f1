import type {
  Revocation,
  RevocationBatch,
  SessionRevocations,
} from '../../domain/ports/session-revocations.port.js';

/** The in-process twin: one process, so one list; entries past their end are dropped. */
export class MemorySessionRevocations implements SessionRevocations {
  readonly #entries: { seq: number; revocation: Revocation }[] = [];
  #seq = 0;

  constructor(private readonly now: () => number = Date.now) {}

  revoke(revocation: Revocation): Promise<void> {
    const now = this.now();
    while ((this.#entries[0]?.revocation.untilMs ?? Infinity) <= now) this.#entries.shift();
    this.#entries.push({ seq: ++this.#seq, revocation });
    return Promise.resolve();
  }

  since(cursor: string, limit: number): Promise<RevocationBatch> {
    const after = cursor === '' ? 0 : Number(cursor);
    const batch = this.#entries.filter((entry) => entry.seq > after).slice(0, limit);
    const last = batch.at(-1);
    return Promise.resolve({
      revocations: batch.map((entry) => entry.revocation),
      cursor: last === undefined ? cursor : String(last.seq),
    });
  }
}
