/** How good a client's link is, best first; `offline` answers no heartbeat at all. */
export const QUALITIES = ['excellent', 'good', 'fair', 'poor', 'offline'] as const;
export type Quality = (typeof QUALITIES)[number];

/** Upper bounds (inclusive) of the smoothed RTT and jitter for one class. */
export interface ClassBound {
  readonly rttMs: number;
  readonly jitterMs: number;
}

export interface QualityThresholds {
  readonly excellent: ClassBound;
  readonly good: ClassBound;
  readonly fair: ClassBound;
  /**
   * Moving to a better class needs the figures this fraction below its bounds (0.2: 20 %
   * under), so a link sitting on a bound does not flap between two classes.
   */
  readonly hysteresis: number;
  /** Qualifying samples in a row before a better class is granted. */
  readonly upgradeSamples: number;
  /** Unanswered heartbeats in a row that make a link `poor`, whatever its RTT. */
  readonly missedForPoor: number;
  /** Unanswered heartbeats in a row that make a link `offline`. */
  readonly missedForOffline: number;
}

export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = {
  excellent: { rttMs: 50, jitterMs: 10 },
  good: { rttMs: 150, jitterMs: 30 },
  fair: { rttMs: 400, jitterMs: 100 },
  hysteresis: 0.2,
  upgradeSamples: 2,
  missedForPoor: 2,
  missedForOffline: 3,
};

/** The figures of one link after a heartbeat was answered or missed. */
export interface QualityReading {
  readonly quality: Quality;
  /** The class before this reading, when it changed. */
  readonly changedFrom: Quality | undefined;
  /** Smoothed round-trip time (ms); undefined before the first answer. */
  readonly rttMs: number | undefined;
  /** RFC 3550 interarrival jitter of the RTT samples (ms). */
  readonly jitterMs: number;
  /** Unanswered heartbeats in a row. */
  readonly missedInRow: number;
}

/** Weight of a new RTT sample in the smoothed RTT (as TCP's SRTT, RFC 6298). */
const RTT_GAIN = 1 / 8;
/** Weight of a new difference in the jitter estimate (RFC 3550, section 6.4.1). */
const JITTER_GAIN = 1 / 16;

const rank = (quality: Quality): number => QUALITIES.indexOf(quality);

/**
 * Classes one connection from its heartbeat answers: pure and clock-free (the caller measures
 * each round trip). Worse figures take effect at once; better ones only after
 * `upgradeSamples` readings in a row clear the better class's bounds by the hysteresis margin.
 */
export class QualityClassifier {
  readonly #thresholds: QualityThresholds;
  #quality: Quality;
  #rttMs: number | undefined;
  #lastSampleMs: number | undefined;
  #jitterMs = 0;
  #missedInRow = 0;
  #upgradeStreak = 0;

  /** A new connection is assumed `good` until measured. */
  constructor(
    thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
    initial: Quality = 'good',
  ) {
    this.#thresholds = thresholds;
    this.#quality = initial;
  }

  get quality(): Quality {
    return this.#quality;
  }

  /** A heartbeat was answered after `rttMs`. */
  answered(rttMs: number): QualityReading {
    const sample = Math.max(0, rttMs);
    if (this.#lastSampleMs !== undefined) {
      // RFC 3550 compares transit times of consecutive packets; RTT samples play that part.
      const difference = Math.abs(sample - this.#lastSampleMs);
      this.#jitterMs += (difference - this.#jitterMs) * JITTER_GAIN;
    }
    this.#lastSampleMs = sample;
    this.#rttMs =
      this.#rttMs === undefined ? sample : this.#rttMs + (sample - this.#rttMs) * RTT_GAIN;
    this.#missedInRow = 0;
    return this.#settle(this.#measured());
  }

  /** A heartbeat went unanswered for a whole interval. */
  missed(): QualityReading {
    this.#missedInRow += 1;
    return this.#settle(this.#measured());
  }

  /** The class the figures alone point to, without hysteresis. */
  #measured(margin = 0): Quality {
    const t = this.#thresholds;
    if (this.#missedInRow >= t.missedForOffline) return 'offline';
    if (this.#missedInRow >= t.missedForPoor) return 'poor';
    if (this.#rttMs === undefined) return this.#quality === 'offline' ? 'poor' : this.#quality;
    const within = (bound: ClassBound) =>
      this.#rttMs !== undefined &&
      this.#rttMs <= bound.rttMs * (1 - margin) &&
      this.#jitterMs <= bound.jitterMs * (1 - margin);
    if (within(t.excellent)) return 'excellent';
    if (within(t.good)) return 'good';
    if (within(t.fair)) return 'fair';
    return 'poor';
  }

  #settle(target: Quality): QualityReading {
    const before = this.#quality;
    if (rank(target) > rank(before)) {
      this.#quality = target;
      this.#upgradeStreak = 0;
    } else if (rank(target) < rank(before)) {
      // Better only with the margin, and only once it has held for enough readings.
      const withMargin = this.#measured(this.#thresholds.hysteresis);
      const granted = rank(withMargin) < rank(before) ? withMargin : undefined;
      this.#upgradeStreak = granted === undefined ? 0 : this.#upgradeStreak + 1;
      if (granted !== undefined && this.#upgradeStreak >= this.#thresholds.upgradeSamples) {
        this.#quality = granted;
        this.#upgradeStreak = 0;
      }
    } else {
      this.#upgradeStreak = 0;
    }
    return {
      quality: this.#quality,
      changedFrom: this.#quality === before ? undefined : before,
      rttMs: this.#rttMs,
      jitterMs: this.#jitterMs,
      missedInRow: this.#missedInRow,
    };
  }
}
