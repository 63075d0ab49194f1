import type { PGlite } from '@electric-sql/pglite';

/**
 * The message queue between pglite-socket's connections and the one PGlite session they share.
 *
 * pglite-socket 0.2's own queue hands the session to whichever connection's message is next
 * unless a transaction is open. A parameterised query is several messages (Parse, Bind,
 * Describe, Execute, then Sync), so another connection's messages ran in between: its unnamed
 * statement replaced the first one's (a query answered with another query's rows), and a BEGIN
 * slipped into the implicit transaction of an unfinished query left the session in a
 * transaction owned by a connection that believed it was idle, every other connection waiting
 * for it until its timeout (embedded-postgres.test.ts shows both).
 *
 * Here a connection keeps the session from its first message until the backend says it is
 * ready for a new query outside a transaction (ReadyForQuery with status Idle): a whole query,
 * or a whole transaction. A connection that leaves mid-way has its work rolled back.
 */
export class SerialQueryQueue {
  readonly #db: PGlite;
  #queue: Entry[] = [];
  /** The connection whose query or transaction is in progress, or null when none is. */
  #owner: number | null = null;
  #draining = false;
  readonly #onAbandoned: (handlerId: number) => void;

  /** `onAbandoned`: a connection went away mid-query or mid-transaction; its work was undone. */
  constructor(db: PGlite, onAbandoned: (handlerId: number) => void = () => undefined) {
    this.#db = db;
    this.#onAbandoned = onAbandoned;
  }

  /** Runs one protocol message of connection `handlerId`; resolves to the bytes answered. */
  enqueue(
    handlerId: number,
    message: Uint8Array,
    onData: (data: Uint8Array) => void,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      void this.#drain();
    });
  }

  getQueueLength(): number {
    return this.#queue.length;
  }

  /** A connection went away: its queued messages are dropped. */
  clearQueueForHandler(handlerId: number): void {
    const mine = this.#queue.filter((entry) => entry.handlerId === handlerId);
    this.#queue = this.#queue.filter((entry) => entry.handlerId !== handlerId);
    for (const entry of mine) entry.reject(new Error('connection closed'));
  }

  /** A connection went away: if it held the session, its query or transaction is undone. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    await this.#db.runExclusive(async () => {
      // Sync ends an unfinished extended-protocol query (and its implicit transaction). Raw
      // messages only: PGlite's exec() takes the same (non-reentrant) lock.
      await this.#db.execProtocolRawStream(SYNC, { onRawData: () => undefined });
      if (this.#db.isInTransaction()) {
        await this.#db.execProtocolRawStream(ROLLBACK, { onRawData: () => undefined });
      }
    });
    this.#owner = null;
    this.#onAbandoned(handlerId);
    await this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        const owner = this.#owner;
        const index =
          owner === null ? 0 : this.#queue.findIndex((entry) => entry.handlerId === owner);
        const entry = index < 0 ? undefined : this.#queue.splice(index, 1)[0];
        if (entry === undefined) return;
        await this.#run(entry);
      }
    } finally {
      this.#draining = false;
    }
  }

  async #run(entry: Entry): Promise<void> {
    let bytes = 0;
    let tail: Uint8Array = new Uint8Array(0);
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(entry.message, {
          onRawData: (data) => {
            bytes += data.length;
            tail = lastBytes(tail, data, READY_FOR_QUERY_LENGTH);
            entry.onData(data);
          },
        }),
      );
    } catch (error) {
      this.#owner = entry.handlerId;
      entry.reject(error);
      return;
    }
    // Terminate (a client closing) starts nothing: the session stays with whoever had it.
    if (entry.message[0] !== TERMINATE) {
      this.#owner = isReadyAndIdle(tail) ? null : entry.handlerId;
    }
    entry.resolve(bytes);
  }
}

interface Entry {
  readonly handlerId: number;
  readonly message: Uint8Array;
  readonly onData: (data: Uint8Array) => void;
  readonly resolve: (bytes: number) => void;
  readonly reject: (error: unknown) => void;
}

/** Terminate: 'X', length 4; the client closes the connection after it. */
const TERMINATE = 0x58;

/** Sync: 'S', length 4. */
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** Query 'ROLLBACK': 'Q', length, the text and its NUL. */
const ROLLBACK = queryMessage('ROLLBACK');

function queryMessage(text: string): Uint8Array {
  const body = Buffer.from(`${text}\0`, 'utf8');
  const message = Buffer.alloc(5 + body.length);
  message.write('Q', 0, 'ascii');
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return message;
}

/** ReadyForQuery: 'Z', length 5, then the status: 'I' idle, 'T' in a transaction, 'E' failed. */
const READY_FOR_QUERY_LENGTH = 6;

function isReadyAndIdle(tail: Uint8Array): boolean {
  return (
    tail.length === READY_FOR_QUERY_LENGTH &&
    tail[0] === 0x5a &&
    tail[1] === 0 &&
    tail[2] === 0 &&
    tail[3] === 0 &&
    tail[4] === 5 &&
    tail[5] === 0x49
  );
}

/** The last `n` bytes of `previous` followed by `data`. */
function lastBytes(previous: Uint8Array, data: Uint8Array, n: number): Uint8Array {
  if (data.length >= n) return data.slice(data.length - n);
  const joined = new Uint8Array(previous.length + data.length);
  joined.set(previous);
  joined.set(data, previous.length);
  return joined.slice(Math.max(0, joined.length - n));
}
