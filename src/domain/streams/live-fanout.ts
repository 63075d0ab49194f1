import type { StreamEntry, StreamLog } from '../ports/stream-log.port.js';
import type { LivePath } from './stream.metrics.js';
import type { EntryDelivery } from './stream-subscription.js';

/** One subscription of a stream, as the fan-out hands it live entries. */
export interface LiveMember {
  /** The subscription's own path (merge, queue, conflation): every entry while not fast. */
  onLive(entry: StreamEntry): void;
  /**
   * Back from the fast path at `entry`: everything up to `seq` was delivered there; `entry`
   * (not delivered) goes through `onLive` next.
   */
  demoted(seq: number, entry: StreamEntry): void;
}

/** Where a caught-up subscription's entries go on the fast path (its client connection). */
export interface DirectTarget {
  /** Writes the delivery to the client at once; false when it cannot (then nothing is written). */
  offer(delivery: EntryDelivery): boolean;
}

/** What a subscription hands the fan-out to go fast from `seq` on. */
export interface FastStart {
  readonly seq: number;
  readonly epoch: number;
  readonly recovered: boolean;
  readonly target: DirectTarget;
}

interface Slot {
  readonly member: LiveMember;
  readonly epoch: number;
  readonly recovered: boolean;
  readonly target: DirectTarget;
  seq: number;
  removed: boolean;
}

interface Lane {
  readonly stream: string;
  /** Members on their own path. */
  readonly slow: Set<LiveMember>;
  /** Members on the fast path (removed ones dropped at the next entry). */
  fast: Slot[];
  readonly slotOf: Map<LiveMember, Slot>;
  /** Settles once the log tails the stream for this lane. */
  ready: Promise<void>;
  untail: (() => void) | undefined;
  closed: boolean;
}

/** Reports a member that threw, so one broken subscription does not stop the others. */
export type MemberFailure = (error: unknown, stream: string) => void;

/**
 * The pod's live subscriptions of each stream, on one log tail per stream. Each entry goes to
 * the subscriptions in one pass. A subscription that is caught up and whose connection writes
 * at once (nothing waiting, nothing folding) is on the fast path: it is handed the entry as a
 * delivery shared by every such subscription, straight to its connection, with no merge, queue
 * or object of its own per message, which is what lets one pod write to thousands of
 * subscribers at the pace of a plain broadcast. Any other subscription, or one whose
 * connection cannot take the entry at once, gets it through its own merge and queue
 * (`onLive`), which also catches the gaps the fast path never tries to mend.
 */
export class LiveFanout {
  readonly #log: Pick<StreamLog, 'tail'>;
  readonly #failed: MemberFailure;
  readonly #lanes = new Map<string, Lane>();
  /** The delivery the fast path shares, one per `recovered` flag, rebuilt per entry. */
  readonly #shared: { live?: EntryDelivery; recovered?: EntryDelivery } = {};

  /** Members by path, kept for `stream_live_subscriptions`. */
  readonly #counts: Record<LivePath, number>;

  /** `counts`: where to keep the number of members on each path (the metrics' tallies). */
  constructor(
    log: Pick<StreamLog, 'tail'>,
    failed: MemberFailure,
    counts: Record<LivePath, number> = { direct: 0, queued: 0 },
  ) {
    this.#log = log;
    this.#failed = failed;
    this.#counts = counts;
  }

  /**
   * Adds `member` to the stream's live entries: from now on, every entry the log appends
   * reaches it (as the log's own tail would). Resolves once the log tails the stream; the
   * returned function takes the member away.
   */
  async tail(stream: string, member: LiveMember): Promise<() => void> {
    const lane = this.#lanes.get(stream) ?? this.#open(stream);
    lane.slow.add(member);
    this.#counts.queued += 1;
    const leave = () => {
      this.#leave(lane, member);
    };
    try {
      await lane.ready;
    } catch (error) {
      leave();
      throw error;
    }
    return leave;
  }

  /**
   * Moves `member` to the fast path from `start.seq` on (the next entry it gets is the one
   * after). For a member caught up to `start.seq` whose connection has nothing waiting.
   */
  promote(stream: string, member: LiveMember, start: FastStart): void {
    const lane = this.#lanes.get(stream);
    if (!lane?.slow.delete(member)) return;
    const slot: Slot = { member, ...start, removed: false };
    lane.slotOf.set(member, slot);
    lane.fast.push(slot);
    this.#counts.queued -= 1;
    this.#counts.direct += 1;
  }

  #open(stream: string): Lane {
    const lane: Lane = {
      stream,
      slow: new Set(),
      fast: [],
      slotOf: new Map(),
      ready: Promise.resolve(),
      untail: undefined,
      closed: false,
    };
    this.#lanes.set(stream, lane);
    // Through an async step, so a log that throws at once rejects `ready` like one that fails
    // later, and leaves no lane behind that never tails.
    lane.ready = Promise.resolve()
      .then(() =>
        this.#log.tail(stream, (entry) => {
          this.#dispatch(lane, entry);
        }),
      )
      .then(
        (untail) => {
          if (lane.closed) untail();
          else lane.untail = untail;
        },
        (error: unknown) => {
          this.#close(lane);
          throw error;
        },
      );
    return lane;
  }

  #leave(lane: Lane, member: LiveMember): void {
    if (lane.slow.delete(member)) {
      this.#counts.queued -= 1;
    } else {
      const slot = lane.slotOf.get(member);
      if (slot === undefined) return;
      slot.removed = true;
      lane.slotOf.delete(member);
      this.#counts.direct -= 1;
    }
    if (lane.slow.size === 0 && lane.slotOf.size === 0) this.#close(lane);
  }

  #close(lane: Lane): void {
    if (lane.closed) return;
    lane.closed = true;
    if (this.#lanes.get(lane.stream) === lane) this.#lanes.delete(lane.stream);
    lane.untail?.();
    lane.untail = undefined;
  }

  #dispatch(lane: Lane, entry: StreamEntry): void {
    // The fast path first: members promoted during the slow pass start with the next entry.
    const fast = lane.fast;
    let kept = 0;
    let demoted: Slot[] | undefined;
    for (const slot of fast) {
      if (slot.removed) continue;
      if (entry.seq === slot.seq + 1 && this.#offer(lane, slot, entry)) {
        slot.seq = entry.seq;
        fast[kept++] = slot;
      } else {
        (demoted ??= []).push(slot);
      }
    }
    fast.length = kept;
    for (const member of lane.slow) this.#onLive(lane, member, entry);
    if (demoted === undefined) return;
    for (const slot of demoted) {
      // Closed by a write of this pass (another subscription's, say): gone, not demoted.
      if (slot.removed) continue;
      lane.slotOf.delete(slot.member);
      lane.slow.add(slot.member);
      this.#counts.direct -= 1;
      this.#counts.queued += 1;
      try {
        slot.member.demoted(slot.seq, entry);
      } catch (error) {
        this.#failed(error, lane.stream);
      }
    }
  }

  /** A connection that throws is reported and takes its entries its own way from then on. */
  #offer(lane: Lane, slot: Slot, entry: StreamEntry): boolean {
    try {
      return slot.target.offer(this.#delivery(lane, slot, entry));
    } catch (error) {
      this.#failed(error, lane.stream);
      return false;
    }
  }

  #onLive(lane: Lane, member: LiveMember, entry: StreamEntry): void {
    try {
      member.onLive(entry);
    } catch (error) {
      this.#failed(error, lane.stream);
    }
  }

  /** The entry's delivery, one object for every fast member with the same epoch and flag. */
  #delivery(lane: Lane, slot: Slot, entry: StreamEntry): EntryDelivery {
    const key = slot.recovered ? 'recovered' : 'live';
    const shared = this.#shared[key];
    if (shared?.entry === entry && shared.epoch === slot.epoch) return shared;
    const delivery: EntryDelivery = {
      kind: 'entry',
      stream: lane.stream,
      epoch: slot.epoch,
      seq: entry.seq,
      recovered: slot.recovered,
      entry,
    };
    this.#shared[key] = delivery;
    return delivery;
  }
}
