import { DomainError } from '../errors.js';
import type { StreamEntry, StreamLog } from '../ports/stream-log.port.js';
import type { DirectTarget, LiveFanout, LiveMember } from './live-fanout.js';
import { LiveMerge } from './live-merge.js';

/** Where a client is in one stream: the last seq it has, in which epoch of the history. */
export interface StreamPosition {
  readonly stream: string;
  readonly epoch: number;
  readonly seq: number;
}

/** A state of a stream as of `seq` (a book, balances); `value` undefined for streams without one. */
export interface Snapshot<S> {
  readonly seq: number;
  readonly value: S | undefined;
}

/** Why a subscription starts from a snapshot rather than from the client's position. */
export type FreshReason =
  /** No position was given. */
  | 'new'
  /** The position is from another epoch of the history. */
  | 'epoch'
  /** The position is past the end of the log: the client cannot have it. */
  | 'ahead'
  /** The history after the position is no longer retained. */
  | 'trimmed'
  /** More to replay than the configured maximum. */
  | 'too_long'
  /** A live entry went missing (the reader fell behind the retention): start over. */
  | 'gap';

export type Delivery<S> =
  | {
      readonly kind: 'start';
      readonly stream: string;
      readonly epoch: number;
      /** The position the entries that follow continue from. */
      readonly seq: number;
      /** True only when the client asked to resume and everything after its position follows. */
      readonly recovered: boolean;
      /** Set when `recovered` is false: the state at `seq`. */
      readonly snapshot: S | undefined;
      readonly reason: FreshReason | undefined;
      /** Entries replayed from the history (those right after this delivery). */
      readonly replayed: number;
    }
  | {
      readonly kind: 'entry';
      readonly stream: string;
      readonly epoch: number;
      readonly seq: number;
      readonly recovered: boolean;
      readonly entry: StreamEntry;
    };

/** A live entry's delivery (the fan-out's fast path hands only these). */
export type EntryDelivery = Extract<Delivery<never>, { readonly kind: 'entry' }>;

export interface SubscriptionLimits {
  /** Most entries a resume replays; beyond it the client gets a snapshot instead. */
  readonly maxReplay: number;
  /** Entries per history read (Redis XRANGE COUNT). */
  readonly pageSize: number;
  /** Live entries buffered while the history is read; beyond it, start over from a snapshot. */
  readonly maxBuffered: number;
  /** How long to wait for the log to reach a snapshot taken ahead of it. */
  readonly snapshotWaitMs: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = {
  maxReplay: 1_000,
  pageSize: 500,
  maxBuffered: 10_000,
  snapshotWaitMs: 5_000,
};

export interface SubscriptionDeps<S> {
  readonly log: StreamLog;
  /** The stream's current state with the seq it reflects (not past the log's end, or soon not). */
  readonly snapshot: (stream: string) => Promise<Snapshot<S>>;
  readonly limits: SubscriptionLimits;
  /** Injected so tests need no real time. */
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * The pod's shared live tail, with its fast path for caught-up subscriptions; without it
   * the subscription tails the log itself.
   */
  readonly fanout?: LiveFanout;
}

export interface SubscriptionSink<S> {
  deliver(delivery: Delivery<S>): void;
  /** The subscription cannot go on (the log is unreachable, a snapshot never caught up). */
  fail(error: unknown): void;
  /** Where caught-up live entries may go straight to the client (the fan-out's fast path). */
  readonly direct?: DirectSink;
}

export interface DirectSink extends DirectTarget {
  /** Whether a live entry handed now would be written at once (nothing waits or folds). */
  readonly ready: boolean;
}

/** Fresh starts in a row before giving up: each one means entries vanished while starting. */
const MAX_FRESH_ATTEMPTS = 3;
/** How often the log is checked while waiting for it to reach a snapshot. */
const SNAPSHOT_POLL_MS = 10;

type CatchUp = { ok: true; deliver: readonly StreamEntry[] } | { ok: false; reason: FreshReason };

/**
 * One client's delivery of one stream, transport-free: subscribes to the live tail first,
 * then decides where to start (the client's position, replayed from the history, or a fresh
 * snapshot), merges history and live entries by seq and delivers each seq exactly once, in
 * order, after one `start` delivery that says which it was.
 */
export class StreamSubscription<S> {
  readonly #deps: SubscriptionDeps<S>;
  readonly #stream: string;
  readonly #sink: SubscriptionSink<S>;
  readonly #merge: LiveMerge;
  readonly #member: LiveMember = {
    onLive: (entry) => {
      this.#onLive(entry);
    },
    demoted: (seq, entry) => {
      this.#merge.deliveredTo(seq);
      this.#onLive(entry);
    },
  };
  #epoch = 0;
  #recovered = false;
  #untail: (() => void) | undefined;
  #restarting = false;
  #closed = false;

  private constructor(deps: SubscriptionDeps<S>, stream: string, sink: SubscriptionSink<S>) {
    this.#deps = deps;
    this.#stream = stream;
    this.#sink = sink;
    this.#merge = new LiveMerge(deps.limits.maxBuffered);
  }

  /**
   * Resolves once the `start` delivery and any replay have been handed to the sink; rejects
   * (after cleaning up) if the log is unreachable or no snapshot could be taken.
   */
  static async open<S>(
    deps: SubscriptionDeps<S>,
    stream: string,
    position: StreamPosition | undefined,
    sink: SubscriptionSink<S>,
  ): Promise<StreamSubscription<S>> {
    const subscription = new StreamSubscription(deps, stream, sink);
    try {
      await subscription.#begin(position);
    } catch (error) {
      subscription.close();
      throw error;
    }
    return subscription;
  }

  close(): void {
    this.#closed = true;
    this.#untail?.();
    this.#untail = undefined;
  }

  async #begin(position: StreamPosition | undefined): Promise<void> {
    const { log, fanout } = this.#deps;
    // Live first: whatever is appended from now on reaches the merge, read history or not.
    this.#untail = await (fanout === undefined
      ? log.tail(this.#stream, (entry) => {
          this.#onLive(entry);
        })
      : fanout.tail(this.#stream, this.#member));
    this.#epoch = await log.epoch();
    if (position === undefined) return this.#fresh('new');
    // Seq 0 is the start of any epoch's history: replaying all of it loses nothing.
    if (position.epoch !== this.#epoch && position.seq !== 0) return this.#fresh('epoch');
    const caught = await this.#catchUp(position.seq);
    if (!caught.ok) return this.#fresh(caught.reason);
    this.#recovered = true;
    this.#emitStart(position.seq, undefined, undefined, caught.deliver.length);
    this.#emitEntries(caught.deliver);
  }

  #onLive(entry: StreamEntry): void {
    if (this.#closed) return;
    if (this.#merge.advance(entry)) {
      this.#emitEntry(entry);
      this.#goFast();
      return;
    }
    const merged = this.#merge.push(entry);
    if (merged.ok) this.#emitEntries(merged.deliver);
    else this.#restart();
  }

  /** Caught up, with a client that takes entries at once: the fan-out's fast path from here. */
  #goFast(): void {
    const { fanout } = this.#deps;
    const direct = this.#sink.direct;
    const seq = this.#merge.last;
    if (fanout === undefined || direct?.ready !== true || seq === undefined) return;
    if (this.#restarting || this.#closed) return;
    fanout.promote(this.#stream, this.#member, {
      seq,
      epoch: this.#epoch,
      recovered: this.#recovered,
      target: direct,
    });
  }

  /** A live entry went missing: the client gets a fresh snapshot, then carries on. */
  #restart(): void {
    if (this.#restarting) return;
    this.#restarting = true;
    this.#merge.reset();
    this.#fresh('gap').then(
      () => {
        this.#restarting = false;
      },
      (error: unknown) => {
        this.close();
        this.#sink.fail(error);
      },
    );
  }

  async #fresh(reason: FreshReason, attempt = 1): Promise<void> {
    this.#recovered = false;
    this.#merge.reset();
    const snapshot = await this.#deps.snapshot(this.#stream);
    await this.#waitForLog(snapshot.seq);
    const caught = await this.#catchUp(snapshot.seq);
    if (this.#closed) return;
    if (!caught.ok) {
      if (attempt >= MAX_FRESH_ATTEMPTS) {
        throw new DomainError(
          'unavailable',
          `stream ${this.#stream} could not be started: its history moved while it was read (${caught.reason})`,
          { retryAfterMs: 1_000, dependency: 'stream-log' },
        );
      }
      return this.#fresh(reason, attempt + 1);
    }
    this.#emitStart(snapshot.seq, snapshot.value, reason, caught.deliver.length);
    this.#emitEntries(caught.deliver);
  }

  /**
   * A snapshot read from the database can be a few entries ahead of the log (the relay has not
   * published them yet). Serving it before the log catches up would hand the client a position
   * that another pod would take for one from the future.
   */
  async #waitForLog(seq: number): Promise<void> {
    const { log, limits, sleep } = this.#deps;
    let waited = 0;
    while ((await log.lastSeq(this.#stream)) < seq) {
      if (waited >= limits.snapshotWaitMs || this.#closed) {
        throw new DomainError(
          'unavailable',
          `stream ${this.#stream} is behind its snapshot (seq ${seq}); try again shortly`,
          { retryAfterMs: 1_000, dependency: 'stream-log' },
        );
      }
      await sleep(SNAPSHOT_POLL_MS);
      waited += SNAPSHOT_POLL_MS;
    }
  }

  /** Reads the history after `from` (bounded), and starts the merge there. */
  async #catchUp(from: number): Promise<CatchUp> {
    const { log, limits } = this.#deps;
    const head = await log.lastSeq(this.#stream);
    if (from > head) return { ok: false, reason: 'ahead' };
    if (head - from > limits.maxReplay) return { ok: false, reason: 'too_long' };
    const history: StreamEntry[] = [];
    let after = from;
    while (after < head) {
      const page = await log.read(this.#stream, after, Math.min(limits.pageSize, head - after));
      const last = page.at(-1);
      if (last === undefined) break;
      history.push(...page);
      after = last.seq;
    }
    const merged = this.#merge.start(from, history);
    return merged.ok ? merged : { ok: false, reason: 'trimmed' };
  }

  #emitStart(seq: number, snapshot: S | undefined, reason: FreshReason | undefined, n: number) {
    this.#sink.deliver({
      kind: 'start',
      stream: this.#stream,
      epoch: this.#epoch,
      seq,
      recovered: this.#recovered,
      snapshot,
      reason,
      replayed: n,
    });
  }

  #emitEntries(entries: readonly StreamEntry[]): void {
    for (const entry of entries) this.#emitEntry(entry);
  }

  #emitEntry(entry: StreamEntry): void {
    this.#sink.deliver({
      kind: 'entry',
      stream: this.#stream,
      epoch: this.#epoch,
      seq: entry.seq,
      recovered: this.#recovered,
      entry,
    });
  }
}
