import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_QUALITY_THRESHOLDS,
  QualityClassifier,
  type Quality,
} from '../../../src/domain/streams/connection-quality.js';
import {
  DEFAULT_HEARTBEAT_SETTINGS,
  HeartbeatTracker,
} from '../../../src/domain/streams/heartbeat-tracker.js';

/** Feeds RTT samples (ms) and returns the class after each. */
const classes = (classifier: QualityClassifier, rtts: readonly number[]): Quality[] =>
  rtts.map((rtt) => classifier.answered(rtt).quality);

describe('connection quality classifier', () => {
  test('a steady low RTT is excellent once it has held for two readings', () => {
    const classifier = new QualityClassifier();

    assert.deepEqual(classes(classifier, [10, 10, 10]), ['good', 'excellent', 'excellent']);
  });

  test('a high RTT takes a link down at once', () => {
    const classifier = new QualityClassifier();
    classes(classifier, [10, 10]);

    const reading = classifier.answered(1_000);

    // Smoothed RTT 10 + 990 / 8 ≈ 134 ms (good), jitter 990 / 16 ≈ 62 ms (fair): the worse wins.
    assert.equal(reading.quality, 'fair');
    assert.equal(reading.changedFrom, 'excellent');
  });

  test('jitter alone makes a link worse (RFC 3550 smoothing of the differences)', () => {
    const classifier = new QualityClassifier();
    // RTT alternating 20 and 120 ms: smoothed around 70 ms (good), jitter climbing towards 100.
    const series = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 20 : 120));

    const last = series.map((rtt) => classifier.answered(rtt)).at(-1);

    assert.ok(last !== undefined && last.jitterMs > DEFAULT_QUALITY_THRESHOLDS.good.jitterMs);
    assert.equal(last.quality, 'fair');
  });

  test('a link on a bound does not flap between two classes (hysteresis)', () => {
    const classifier = new QualityClassifier(DEFAULT_QUALITY_THRESHOLDS, 'excellent');
    // Around the excellent bound (50 ms): 45 and 55 alternating, smoothing near 50.
    const series = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? 55 : 45));

    const seen = classes(classifier, series);
    const changes = seen.filter((q, i) => i > 0 && q !== seen[i - 1]).length;

    assert.ok(changes <= 1, `changed class ${changes} times: ${seen.join(',')}`);
  });

  test('a better class needs the figures under its bound by the margin', () => {
    const classifier = new QualityClassifier(DEFAULT_QUALITY_THRESHOLDS, 'good');

    // 45 ms is under the excellent bound (50) but not under 50 × (1 - 0.2) = 40.
    assert.deepEqual(classes(classifier, [45, 45, 45, 45]), ['good', 'good', 'good', 'good']);
    assert.deepEqual(classes(classifier, [30, 30, 30, 30, 30]).at(-1), 'excellent');
  });

  test('missed beats make a link poor, then offline', () => {
    const classifier = new QualityClassifier();
    classes(classifier, [10, 10]);

    const seen = [classifier.missed(), classifier.missed(), classifier.missed()];

    assert.deepEqual(
      seen.map((r) => r.quality),
      ['excellent', 'poor', 'offline'],
    );
    assert.equal(seen[2]?.missedInRow, 3);
  });

  test('an offline link that answers again recovers to good', () => {
    const classifier = new QualityClassifier();
    classes(classifier, [100, 100]);
    for (let i = 0; i < 3; i++) classifier.missed();
    assert.equal(classifier.quality, 'offline');

    const seen = classes(classifier, [100, 100, 100]);

    assert.deepEqual(seen, ['offline', 'good', 'good']);
  });
});

describe('heartbeat tracker', () => {
  const clock = () => {
    let now = 1_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };
  const ids = () => {
    let id = 0;
    return () => (id += 1);
  };

  test('measures the round trip of an answered heartbeat', () => {
    const time = clock();
    const tracker = new HeartbeatTracker(DEFAULT_HEARTBEAT_SETTINGS, time.now, ids());

    const beat = tracker.beat();
    time.advance(42);
    const answer = tracker.pong(beat.id);

    assert.equal(beat.serverTimeMs, 1_000);
    assert.ok(answer.ok);
    assert.equal(answer.rttMs, 42);
  });

  test('counts a heartbeat missed when the next one goes out unanswered', () => {
    const time = clock();
    const tracker = new HeartbeatTracker(DEFAULT_HEARTBEAT_SETTINGS, time.now, ids());

    const first = tracker.beat();
    time.advance(10_000);
    const second = tracker.beat();

    assert.equal(first.missed, undefined);
    assert.equal(second.missed?.missedInRow, 1);
    assert.equal(tracker.pong(first.id).ok, false, 'a late answer is ignored');
  });

  test('an unknown or repeated answer is refused', () => {
    const tracker = new HeartbeatTracker(DEFAULT_HEARTBEAT_SETTINGS, clock().now, ids());
    const beat = tracker.beat();

    assert.equal(tracker.pong(beat.id + 1).ok, false);
    assert.equal(tracker.pong(beat.id).ok, true);
    assert.equal(tracker.pong(beat.id).ok, false);
  });

  test('is idle once nothing was answered for the idle timeout', () => {
    const time = clock();
    const settings = { ...DEFAULT_HEARTBEAT_SETTINGS, idleTimeoutMs: 30_000 };
    const tracker = new HeartbeatTracker(settings, time.now, ids());
    const beat = tracker.beat();
    time.advance(20_000);
    tracker.pong(beat.id);

    time.advance(29_999);
    assert.equal(tracker.idle(), false);
    time.advance(1);
    assert.equal(tracker.idle(), true);
  });
});
