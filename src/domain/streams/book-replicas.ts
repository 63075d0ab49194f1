import type { Logger } from '../../telemetry/index.js';
import type { StreamLog } from '../ports/stream-log.port.js';
import type { StreamSnapshots } from '../ports/stream-snapshots.port.js';
import { BookReplica } from './book-replica.js';
import { bookStream } from './stream-names.js';
import { cachedParser, levelsPayload } from './stream-payloads.js';
import { StreamSubscription, type SubscriptionLimits } from './stream-subscription.js';

export interface BookReplicasDeps {
  readonly log: StreamLog;
  readonly snapshots: StreamSnapshots;
  readonly limits: SubscriptionLimits;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: Logger;
}

interface Entry {
  replica: BookReplica | undefined;
  subscription: StreamSubscription<unknown> | undefined;
}

/**
 * This pod's copy of each book it serves: started from the database's snapshot (tagged with
 * the seq it reflects), caught up from the log and then fed by the same live tail as the
 * subscribers, through the same subscription core, so it has every delta once and in order.
 */
export class BookReplicas {
  readonly #deps: BookReplicasDeps;
  readonly #books = new Map<string, Promise<Entry>>();
  readonly #parse = cachedParser(levelsPayload);
  readonly #log: Logger;

  constructor(deps: BookReplicasDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'book-replicas' });
  }

  /** The replica of `symbol`, started on first use. */
  async get(symbol: string): Promise<BookReplica> {
    let started = this.#books.get(symbol);
    if (started === undefined) {
      started = this.#start(symbol);
      this.#books.set(symbol, started);
      // A failed start is forgotten, so the next caller tries again.
      started.catch(() => this.#books.delete(symbol));
    }
    const entry = await started;
    if (entry.replica === undefined) throw new Error(`book ${symbol} has no replica`);
    return entry.replica;
  }

  close(): void {
    for (const started of this.#books.values()) {
      started.then(
        (entry) => entry.subscription?.close(),
        () => undefined,
      );
    }
    this.#books.clear();
  }

  async #start(symbol: string): Promise<Entry> {
    const { log, snapshots, limits, sleep } = this.#deps;
    const entry: Entry = { replica: undefined, subscription: undefined };
    entry.subscription = await StreamSubscription.open<BookReplica>(
      {
        log,
        limits,
        sleep,
        snapshot: async () => {
          const book = await snapshots.book(symbol);
          return { seq: book.seq, value: new BookReplica(book) };
        },
      },
      bookStream(symbol),
      undefined,
      {
        deliver: (delivery) => {
          if (delivery.kind === 'start') {
            entry.replica = delivery.snapshot;
            this.#log.info(
              { symbol, seq: delivery.seq, reason: delivery.reason },
              'book replica started',
            );
            return;
          }
          const payload = this.#parse(delivery.entry.payload);
          const checksum = entry.replica?.apply(delivery.seq, payload.levels);
          if (payload.checksum !== undefined && checksum !== payload.checksum) {
            this.#log.error(
              { symbol, seq: delivery.seq, expected: payload.checksum, actual: checksum },
              'book replica checksum mismatch',
            );
          }
        },
        fail: (error) => {
          this.#log.error({ err: error, symbol }, 'book replica stopped');
          this.#books.delete(symbol);
        },
      },
    );
    return entry;
  }
}
