import {
  DEFAULT_QUALITY_THRESHOLDS,
  QualityClassifier,
  type Quality,
  type QualityReading,
  type QualityThresholds,
} from './connection-quality.js';

export interface HeartbeatSettings {
  /** How often the server sends a heartbeat on each stream. */
  readonly intervalMs: number;
  /** A connection that answers nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly thresholds: QualityThresholds;
}

export const DEFAULT_HEARTBEAT_SETTINGS: HeartbeatSettings = {
  intervalMs: 10_000,
  idleTimeoutMs: 35_000,
  thresholds: DEFAULT_QUALITY_THRESHOLDS,
};

/** A heartbeat to send: its id and the server's time when sent. */
export interface Beat {
  readonly id: number;
  readonly serverTimeMs: number;
  /** Set when the previous heartbeat went unanswered: the reading after counting it missed. */
  readonly missed: QualityReading | undefined;
}

export type PongResult =
  | { readonly ok: true; readonly rttMs: number; readonly reading: QualityReading }
  /** Not the heartbeat in flight: unknown, already answered, or counted missed. */
  | { readonly ok: false };

/**
 * One connection's heartbeats and answers, transport-free: each transport sends the beats it
 * is handed and feeds back the pongs it receives (in-band on WebSocket, the unary
 * `SessionService.Pong` on gRPC). Time comes from `now`, so tests need no real clock.
 */
export class HeartbeatTracker {
  readonly #settings: HeartbeatSettings;
  readonly #now: () => number;
  readonly #nextId: () => number;
  readonly #classifier: QualityClassifier;
  #inFlight: { id: number; sentAtMs: number } | undefined;
  #lastHeardMs: number;

  constructor(settings: HeartbeatSettings, now: () => number, nextId: () => number) {
    this.#settings = settings;
    this.#now = now;
    this.#nextId = nextId;
    this.#classifier = new QualityClassifier(settings.thresholds);
    this.#lastHeardMs = now();
  }

  get quality(): Quality {
    return this.#classifier.quality;
  }

  /** The next heartbeat; the one before it, if still unanswered, is counted missed. */
  beat(): Beat {
    const missed = this.#inFlight === undefined ? undefined : this.#classifier.missed();
    const sentAtMs = this.#now();
    this.#inFlight = { id: this.#nextId(), sentAtMs };
    return { id: this.#inFlight.id, serverTimeMs: sentAtMs, missed };
  }

  /** The client answered heartbeat `id`. */
  pong(id: number): PongResult {
    const inFlight = this.#inFlight;
    if (inFlight?.id !== id) return { ok: false };
    this.#inFlight = undefined;
    const now = this.#now();
    this.#lastHeardMs = now;
    const rttMs = now - inFlight.sentAtMs;
    return { ok: true, rttMs, reading: this.#classifier.answered(rttMs) };
  }

  /** Whether `id` is the heartbeat this connection waits an answer for. */
  awaits(id: number): boolean {
    return this.#inFlight?.id === id;
  }

  /** True once nothing has been answered for the idle timeout: the connection must go. */
  idle(): boolean {
    return this.#now() - this.#lastHeardMs >= this.#settings.idleTimeoutMs;
  }

  /** Milliseconds since the last answer (or since the connection opened). */
  silentMs(): number {
    return this.#now() - this.#lastHeardMs;
  }
}
