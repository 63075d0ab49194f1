import { MemoryStreamLog } from '../../../../src/adapters/stream-log/stream-log.memory.js';
import type { StreamEntry } from '../../../../src/domain/ports/stream-log.port.js';
import { LiveFanout } from '../../../../src/domain/streams/live-fanout.js';
import {
  StreamSubscription,
  type Delivery,
  type DirectSink,
  type EntryDelivery,
} from '../../../../src/domain/streams/stream-subscription.js';

export const STREAM = 'book.T';
const LIMITS = { maxReplay: 1_000, pageSize: 100, maxBuffered: 1_000, snapshotWaitMs: 50 };

/**
 * A client connection as the fast path sees it: takes entries at once while `open`, and
 * queues whatever its subscription delivers its own way. `onOffer` runs before each offer is
 * answered (a write that throws, or closes something).
 */
export class FanoutClient implements DirectSink {
  open = true;
  /** Every entry seq the client got, whichever path brought it, in order. */
  readonly seqs: number[] = [];
  readonly starts: Delivery<number>[] = [];
  readonly offered: EntryDelivery[] = [];
  readonly failures: unknown[] = [];
  onOffer: ((delivery: EntryDelivery) => void) | undefined;

  get ready(): boolean {
    return this.open;
  }

  offer(delivery: EntryDelivery): boolean {
    this.onOffer?.(delivery);
    if (!this.open) return false;
    this.offered.push(delivery);
    this.seqs.push(delivery.seq);
    return true;
  }

  readonly sink = {
    deliver: (delivery: Delivery<number>) => {
      if (delivery.kind === 'start') this.starts.push(delivery);
      else this.seqs.push(delivery.seq);
    },
    fail: (error: unknown) => {
      this.failures.push(error);
    },
    direct: this,
  };
}

/** An in-process log, a fan-out on it, and fresh subscriptions of STREAM for clients. */
export function fanoutHarness() {
  const log = new MemoryStreamLog({ epoch: 1 });
  const failed: unknown[] = [];
  const counts = { direct: 0, queued: 0 };
  const fanout = new LiveFanout(log, (error) => failed.push(error), counts);
  let head = 0;
  /** Appends the next `n` entries in one append (one read of the log's tail). */
  const append = (n = 1) => {
    const entries: StreamEntry[] = [];
    for (let i = 0; i < n; i++) {
      head += 1;
      entries.push({ stream: STREAM, seq: head, payload: `{"n":${head}}` });
    }
    void log.append(entries);
  };
  /** Appends `seq` itself, skipping whatever lies between (an entry the tail never saw). */
  const appendAt = (seq: number) => {
    head = seq;
    void log.append([{ stream: STREAM, seq, payload: `{"n":${seq}}` }]);
  };
  const subscribe = async (client: FanoutClient) =>
    StreamSubscription.open<number>(
      {
        log,
        fanout,
        limits: LIMITS,
        sleep: () => Promise.resolve(),
        snapshot: async () => {
          const seq = await log.lastSeq(STREAM);
          return { seq, value: seq };
        },
      },
      STREAM,
      undefined,
      client.sink,
    );
  /** Counts the log's untails from now on (each stream's lane untails once, when emptied). */
  const countUntails = () => {
    const counted = { tails: 0, untails: 0 };
    const tail = log.tail.bind(log);
    log.tail = async (stream, listener) => {
      counted.tails += 1;
      const untail = await tail(stream, listener);
      return () => {
        counted.untails += 1;
        untail();
      };
    };
    return counted;
  };
  return {
    log,
    fanout,
    failed,
    counts,
    append,
    appendAt,
    subscribe,
    countUntails,
    head: () => head,
  };
}

export const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
