import type { Logger } from '../../telemetry/index.js';
import { DomainError } from '../errors.js';
import { BookConflator } from './book-conflator.js';
import type { Quality, QualityReading } from './connection-quality.js';
import { DeliveryQueue } from './delivery-queue.js';
import { HeartbeatTracker, type HeartbeatSettings } from './heartbeat-tracker.js';
import { cachedParser, levelsPayload, type LevelChange } from './stream-payloads.js';
import type { StreamMetrics } from './stream.metrics.js';
import type { DirectSink, Delivery, EntryDelivery } from './stream-subscription.js';
import type { StreamSnapshot } from './stream-snapshot.js';

/** A heartbeat to write; the client answers with its id. */
export interface HeartbeatDelivery {
  readonly kind: 'heartbeat';
  readonly id: number;
  readonly serverTimeMs: number;
}

/** The server is going away: this connection's streams end after `delayMs`; resume elsewhere. */
export interface ReconnectDelivery {
  readonly kind: 'reconnect';
  readonly delayMs: number;
  readonly reason: string;
}

/** The server's class of this connection changed. */
export interface QualityDelivery {
  readonly kind: 'quality';
  readonly quality: Quality;
  readonly rttMs: number;
  readonly jitterMs: number;
  readonly missedHeartbeats: number;
}

/** Book deltas `firstSeq`..`seq` of one stream folded into one (docs/protocol.md). */
export interface ConflatedDelivery {
  readonly kind: 'conflated';
  readonly stream: string;
  readonly epoch: number;
  readonly firstSeq: number;
  readonly seq: number;
  readonly recovered: boolean;
  readonly levels: readonly LevelChange[];
  readonly checksum: number;
}

export type GatewayDelivery =
  | Delivery<StreamSnapshot>
  | HeartbeatDelivery
  | QualityDelivery
  | ConflatedDelivery
  | ReconnectDelivery;

export interface ConnectionSettings {
  readonly heartbeat: HeartbeatSettings;
  /** Messages waiting past which the client is cut off. */
  readonly maxMessages: number;
  /** Bytes waiting past which book streams are conflated. */
  readonly conflateBytes: number;
  /** Bytes waiting past which the client is cut off. */
  readonly maxBytes: number;
  /** How often a conflated book stream sends what it folded. */
  readonly conflateIntervalMs: number;
}

/** Runs `fn` every `ms` until the returned function is called. */
export type Every = (ms: number, fn: () => void) => () => void;

export const realEvery: Every = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
};

export interface ConnectionDeps {
  readonly sessionId: string;
  readonly transport: string;
  readonly settings: ConnectionSettings;
  readonly metrics: StreamMetrics;
  readonly logger: Logger;
  readonly now: () => number;
  readonly every: Every;
  /** Heartbeat ids unique on this pod, so a pong names one connection. */
  readonly nextHeartbeatId: () => number;
}

/** What became of a pong. */
export type PongOutcome = 'accepted' | 'late';

/** Bytes counted for a message without a payload of its own (a heartbeat, a start). */
const SMALL_MESSAGE_BYTES = 32;
/** Bytes counted per price level of a snapshot or conflated delta. */
const LEVEL_BYTES = 24;

const parseLevels = cachedParser(levelsPayload);

/**
 * One client connection of the stream gateway, transport-free: its bounded send queue, its
 * heartbeats and quality class, and the conflation of its book streams when the link is poor
 * or the queue fills. A transport writes what `take` (or `direct`) hands it and hands back the
 * client's pongs (`pong`): the unary `SessionService.Pong` on gRPC, an in-band message on
 * WebSocket.
 */
export class StreamConnection implements DirectSink {
  readonly sessionId: string;
  readonly #deps: ConnectionDeps;
  readonly #queue: DeliveryQueue<GatewayDelivery>;
  readonly #tracker: HeartbeatTracker;
  readonly #log: Logger;
  readonly #conflators = new Map<
    string,
    { conflator: BookConflator; epoch: number; recovered: boolean }
  >();
  /** Book streams with a conflated message still waiting in the queue. */
  readonly #conflatedQueued = new Set<string>();
  #queuePressure = false;
  #conflating = false;
  #stopHeartbeats: (() => void) | undefined;
  #stopFlushing: (() => void) | undefined;
  #closed = false;

  constructor(deps: ConnectionDeps) {
    this.#deps = deps;
    this.sessionId = deps.sessionId;
    this.#log = deps.logger.child({ component: 'stream-connection', session_id: deps.sessionId });
    const { settings, metrics } = deps;
    const { tallies } = metrics;
    this.#tracker = new HeartbeatTracker(settings.heartbeat, deps.now, deps.nextHeartbeatId);
    this.#queue = new DeliveryQueue<GatewayDelivery>(
      { max: settings.maxMessages, maxBytes: settings.maxBytes },
      {
        queuedBytes: (delta) => {
          tallies.queuedBytes += delta;
          if (delta < 0) this.#relieved();
        },
        overflowed: () => {
          metrics.slowConsumers.inc();
          this.#log.warn(
            { queued_bytes: this.#queue.bytes, transport: deps.transport },
            'stream client too slow; disconnected',
          );
        },
      },
    );
    metrics.connections.inc(this.#labels());
  }

  get quality(): Quality {
    return this.#tracker.quality;
  }

  /** Whether this connection waits for the answer to heartbeat `id`. */
  awaits(heartbeatId: number): boolean {
    return this.#tracker.awaits(heartbeatId);
  }

  /** Starts the heartbeats (and so the idle timeout). */
  start(): void {
    this.#stopHeartbeats = this.#deps.every(this.#deps.settings.heartbeat.intervalMs, () => {
      this.#heartbeat();
    });
  }

  /** A subscription's delivery: queued, or folded while the book stream is conflated. */
  deliver(delivery: Delivery<StreamSnapshot>): void {
    const book = delivery.stream.startsWith('book.');
    if (book && delivery.kind === 'start') {
      // A fresh start supersedes whatever was folded before it.
      this.#conflators.get(delivery.stream)?.conflator.reset();
      const levels = delivery.snapshot?.kind === 'book' ? delivery.snapshot.book.bids.length : 0;
      const asks = delivery.snapshot?.kind === 'book' ? delivery.snapshot.book.asks.length : 0;
      this.#push(delivery, SMALL_MESSAGE_BYTES + (levels + asks) * LEVEL_BYTES);
      return;
    }
    if (book && delivery.kind === 'entry' && this.#conflating) {
      const slot = this.#conflator(delivery.stream, delivery.epoch, delivery.recovered);
      slot.conflator.add(delivery.seq, parseLevels(delivery.entry.payload));
      this.#deps.metrics.conflated.inc({ reason: this.#queuePressure ? 'queue' : 'quality' });
      return;
    }
    const bytes = delivery.kind === 'entry' ? delivery.entry.payload.length : SMALL_MESSAGE_BYTES;
    this.#push(delivery, bytes);
  }

  /** Whether a live entry handed now would be written at once: nothing waits or folds. */
  get ready(): boolean {
    return !this.#conflating && this.#queue.idle;
  }

  /**
   * A caught-up live entry (the fan-out's fast path): written at once, or false when it would
   * wait or fold (then nothing happened and it comes through `deliver`).
   */
  offer(delivery: EntryDelivery): boolean {
    return !this.#conflating && this.#queue.offer(delivery);
  }

  /** The client answered heartbeat `id`. */
  pong(heartbeatId: number): PongOutcome {
    const answer = this.#tracker.pong(heartbeatId);
    const { metrics, transport } = this.#deps;
    if (!answer.ok) {
      metrics.pongs.inc({ result: 'late' });
      return 'late';
    }
    metrics.pongs.inc({ result: 'accepted' });
    metrics.rtt.observe({ transport }, answer.rttMs / 1_000);
    metrics.jitter.observe({ transport }, answer.reading.jitterMs / 1_000);
    this.#apply(answer.reading);
    return 'accepted';
  }

  /** Tells the client to reconnect elsewhere; its streams end after `delayMs` (the drain's doing). */
  reconnect(delayMs: number, reason: string): void {
    this.#push({ kind: 'reconnect', delayMs, reason }, 0);
  }

  /** Ends the connection's messages with `error` (what the client is told). */
  fail(error: unknown): void {
    this.#queue.fail(error);
  }

  /** Stops timers and ends the messages; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHeartbeats?.();
    this.#stopFlushing?.();
    this.#queue.end();
    this.#deps.metrics.connections.dec(this.#labels());
  }

  /**
   * The next message to write, taken; undefined when none waits (`done` says whether more can
   * come, `whenReady` when). Throws what the connection failed with.
   */
  take(): GatewayDelivery | undefined {
    const delivery = this.#queue.take();
    if (delivery?.kind === 'conflated') this.#conflatedQueued.delete(delivery.stream);
    return delivery;
  }

  /** Nothing more will come: closed (or failed) and everything taken. */
  get done(): boolean {
    return this.#queue.done;
  }

  /**
   * Offers each message that would wait alone in the queue to `take` first (see
   * DeliveryQueue.direct): true when it took it.
   */
  direct(take: (delivery: GatewayDelivery) => boolean): void {
    this.#queue.direct((delivery) => {
      if (!take(delivery)) return false;
      if (delivery.kind === 'conflated') this.#conflatedQueued.delete(delivery.stream);
      return true;
    });
  }

  /** Calls `wake` once, when a message waits or the connection ends. */
  whenReady(wake: () => void): void {
    this.#queue.whenReady(wake);
  }

  /** The reader is gone: what waits is dropped. */
  release(): void {
    this.#queue.release();
  }

  #labels() {
    return { transport: this.#deps.transport, quality: this.#tracker.quality };
  }

  #push(delivery: GatewayDelivery, bytes: number): void {
    this.#queue.push(delivery, bytes);
    if (!this.#queuePressure && this.#queue.bytes > this.#deps.settings.conflateBytes) {
      this.#queuePressure = true;
      this.#log.info({ queued_bytes: this.#queue.bytes }, 'stream send queue full; conflating');
      this.#updateConflation();
    }
  }

  /** Bytes were taken: below half the conflation limit, the pressure is off. */
  #relieved(): void {
    if (this.#queuePressure && this.#queue.bytes < this.#deps.settings.conflateBytes / 2) {
      this.#queuePressure = false;
      this.#updateConflation();
    }
  }

  #heartbeat(): void {
    const { metrics, transport, settings } = this.#deps;
    if (this.#tracker.idle()) {
      metrics.idleDisconnects.inc();
      const silentMs = this.#tracker.silentMs();
      this.#log.warn({ silent_ms: silentMs, transport }, 'stream client silent; disconnected');
      this.#queue.fail(
        new DomainError(
          'unavailable',
          `no heartbeat answered for ${Math.round(silentMs / 1_000)} s (idle timeout ${settings.heartbeat.idleTimeoutMs} ms); reconnect and resume from the last positions, and answer each Heartbeat with SessionService.Pong`,
          { retryAfterMs: 0 },
        ),
      );
      return;
    }
    const beat = this.#tracker.beat();
    if (beat.missed !== undefined) {
      metrics.heartbeatsMissed.inc({ transport });
      this.#apply(beat.missed);
    }
    this.#push(
      { kind: 'heartbeat', id: beat.id, serverTimeMs: beat.serverTimeMs },
      SMALL_MESSAGE_BYTES,
    );
  }

  #apply(reading: QualityReading): void {
    const from = reading.changedFrom;
    if (from === undefined) return;
    const { metrics, transport } = this.#deps;
    metrics.connections.dec({ transport, quality: from });
    metrics.connections.inc({ transport, quality: reading.quality });
    metrics.qualityChanges.inc({ from, to: reading.quality });
    this.#log.info(
      {
        from,
        to: reading.quality,
        rtt_ms: reading.rttMs,
        jitter_ms: reading.jitterMs,
        missed: reading.missedInRow,
      },
      'stream quality changed',
    );
    this.#push(
      {
        kind: 'quality',
        quality: reading.quality,
        rttMs: Math.round(reading.rttMs ?? 0),
        jitterMs: Math.round(reading.jitterMs),
        missedHeartbeats: reading.missedInRow,
      },
      SMALL_MESSAGE_BYTES,
    );
    this.#updateConflation();
  }

  /** Conflates book streams while the link is poor or the queue is full, and only then. */
  #updateConflation(): void {
    const wanted = this.#queuePressure || this.quality === 'poor' || this.quality === 'offline';
    if (wanted === this.#conflating || this.#closed) return;
    this.#conflating = wanted;
    if (wanted) {
      this.#stopFlushing = this.#deps.every(this.#deps.settings.conflateIntervalMs, () => {
        this.#flush(false);
      });
    } else {
      this.#stopFlushing?.();
      this.#stopFlushing = undefined;
      // What was folded goes out before the next plain delta, which follows it.
      this.#flush(true);
    }
  }

  /**
   * Sends what each book stream folded. While a stream's last conflated message still waits
   * in the queue, it keeps folding instead (unless `force`): a stalled reader then costs at
   * most one message per book stream, however long it stalls.
   */
  #flush(force: boolean): void {
    for (const [stream, { conflator, epoch, recovered }] of this.#conflators) {
      if (!conflator.pending || (!force && this.#conflatedQueued.has(stream))) continue;
      const taken = conflator.take();
      if (taken === undefined) continue;
      this.#conflatedQueued.add(stream);
      this.#push(
        {
          kind: 'conflated',
          stream,
          epoch,
          firstSeq: taken.firstSeq,
          seq: taken.lastSeq,
          recovered,
          levels: taken.levels,
          checksum: taken.checksum,
        },
        SMALL_MESSAGE_BYTES + taken.levels.length * LEVEL_BYTES,
      );
    }
  }

  #conflator(stream: string, epoch: number, recovered: boolean) {
    let slot = this.#conflators.get(stream);
    if (slot === undefined) {
      slot = { conflator: new BookConflator(), epoch, recovered };
      this.#conflators.set(stream, slot);
    }
    slot.epoch = epoch;
    slot.recovered = recovered;
    return slot;
  }
}
