import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../../../src/domain/errors.js';
import { BookReplica } from '../../../src/domain/streams/book-replica.js';
import { DEFAULT_HEARTBEAT_SETTINGS } from '../../../src/domain/streams/heartbeat-tracker.js';
import {
  StreamConnection,
  type ConnectionSettings,
  type GatewayDelivery,
} from '../../../src/domain/streams/stream-connection.js';
import type { LevelChange } from '../../../src/domain/streams/stream-payloads.js';
import { streamMetrics } from '../../../src/domain/streams/stream.metrics.js';
import { bookChecksum } from '../../../src/engine/index.js';
import { createMetricsRegistry } from '../../../src/telemetry/index.js';
import { SeededRandom } from '../../../src/tools/seeded-random.js';
import { FakeTimers } from './support/fake-timers.js';
import { LogCapture, sample } from '../../support/app.js';

const BOOK = 'book.BTC-USD';
const TRADES = 'trades.BTC-USD';

/** Reads a connection's messages as a client would, taking what is there without waiting. */
class Reader {
  readonly received: GatewayDelivery[] = [];
  error: unknown;

  constructor(readonly connection: StreamConnection) {}

  async drain(): Promise<GatewayDelivery[]> {
    // What the connection's timers and pushes set off in this turn lands first.
    await new Promise((resolve) => setImmediate(resolve));
    const taken: GatewayDelivery[] = [];
    try {
      for (let d = this.connection.take(); d !== undefined; d = this.connection.take()) {
        taken.push(d);
        this.received.push(d);
      }
    } catch (error) {
      // A cut: the transport stops reading, and what waited is dropped.
      this.error = error;
      this.connection.release();
    }
    return taken;
  }
}

const SETTINGS: ConnectionSettings = {
  heartbeat: { ...DEFAULT_HEARTBEAT_SETTINGS, intervalMs: 1_000, idleTimeoutMs: 3_500 },
  maxMessages: 10_000,
  conflateBytes: 4_000,
  maxBytes: 8_000,
  conflateIntervalMs: 250,
};

function setup(settings: ConnectionSettings = SETTINGS) {
  const registry = createMetricsRegistry({ version: 'test', role: 'stream' });
  const metrics = streamMetrics(registry);
  const timers = new FakeTimers();
  let now = 0;
  let id = 0;
  const make = (sessionId = 's1') =>
    new StreamConnection({
      sessionId,
      transport: 'grpc',
      settings,
      metrics,
      logger: new LogCapture().logger(),
      now: () => now,
      every: timers.every,
      nextHeartbeatId: () => (id += 1),
    });
  return {
    registry,
    timers,
    make,
    advance: (ms: number) => (now += ms),
  };
}

/** The engine side: a book changed at random, each change a stream entry with its checksum. */
class EngineBook {
  readonly book = new BookReplica({ seq: 0, bids: [], asks: [] });
  readonly #random = new SeededRandom(7);

  next(): { seq: number; payload: string } {
    const changes: LevelChange[] = [];
    for (let i = 0; i < 1 + this.#random.int(0, 2); i++) {
      const buy = this.#random.int(0, 1) === 0;
      changes.push({
        side: buy ? 'buy' : 'sell',
        price: buy ? 100 - this.#random.int(0, 14) : 101 + this.#random.int(0, 14),
        quantity: this.#random.int(0, 3) === 0 ? 0 : this.#random.int(1, 50),
      });
    }
    const seq = this.book.seq + 1;
    const checksum = this.book.apply(seq, changes);
    return { seq, payload: JSON.stringify({ type: 'levels', levels: changes, checksum }) };
  }
}

/** The client side, as docs/protocol.md says: snapshot, then deltas (plain or conflated). */
class ClientBook {
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  seq = 0;

  apply(delivery: GatewayDelivery): void {
    if (delivery.kind === 'start') {
      this.seq = delivery.seq;
      return;
    }
    let levels: readonly LevelChange[];
    let first: number;
    let checksum: number;
    if (delivery.kind === 'conflated') {
      ({ levels, checksum } = delivery);
      first = delivery.firstSeq;
    } else if (delivery.kind === 'entry' && delivery.stream === BOOK) {
      const payload = JSON.parse(delivery.entry.payload) as {
        levels: LevelChange[];
        checksum: number;
      };
      ({ levels, checksum } = payload);
      first = delivery.seq;
    } else {
      return;
    }
    assert.equal(first, this.seq + 1, `a book message from ${first} after ${this.seq}: a gap`);
    for (const level of levels) {
      const side = level.side === 'buy' ? this.bids : this.asks;
      if (level.quantity === 0) side.delete(level.price);
      else side.set(level.price, level.quantity);
    }
    this.seq = delivery.seq;
    assert.equal(this.checksum(), checksum, `checksum after seq ${this.seq}`);
  }

  checksum(): number {
    const list = (side: Map<number, number>, descending: boolean) =>
      [...side]
        .map(([price, quantity]) => ({ price, quantity }))
        .sort((a, b) => (descending ? b.price - a.price : a.price - b.price))
        .slice(0, 10);
    return bookChecksum({ bids: list(this.bids, true), asks: list(this.asks, false) });
  }
}

const start = (stream: string) =>
  ({
    kind: 'start',
    stream,
    epoch: 1,
    seq: 0,
    recovered: false,
    snapshot: undefined,
    reason: 'new',
    replayed: 0,
  }) as const;
const entry = (stream: string, seq: number, payload: string) =>
  ({
    kind: 'entry',
    stream,
    epoch: 1,
    seq,
    recovered: false,
    entry: { stream, seq, payload },
  }) as const;
const trade = (seq: number) =>
  entry(
    TRADES,
    seq,
    JSON.stringify({ type: 'trade', tradeId: seq, price: 100, quantity: 1, takerSide: 'buy' }),
  );

/** Makes the link poor: two heartbeats unanswered. */
function missTwoBeats(t: ReturnType<typeof setup>) {
  for (let i = 0; i < 3; i++) {
    t.advance(1_000);
    t.timers.fire(1_000);
  }
}

describe('stream connection', () => {
  test('sends heartbeats and measures the answers', async () => {
    const t = setup();
    const connection = t.make();
    const reader = new Reader(connection);
    connection.start();

    t.advance(1_000);
    t.timers.fire(1_000);
    const [beat] = await reader.drain();
    if (beat?.kind !== 'heartbeat') throw new Error(`a heartbeat expected, got ${beat?.kind}`);
    t.advance(40);
    const outcome = connection.pong(beat.id);

    assert.equal(outcome, 'accepted');
    const text = await t.registry.metrics();
    assert.equal(sample(text, 'stream_connection_rtt_seconds_count', { transport: 'grpc' }), 1);
    assert.equal(sample(text, 'stream_connection_rtt_seconds_sum', { transport: 'grpc' }), 0.04);
  });

  test('missed heartbeats make the link poor and the client is told', async () => {
    const t = setup();
    const connection = t.make();
    const reader = new Reader(connection);
    connection.start();

    missTwoBeats(t);
    const classes = (await reader.drain()).flatMap((d) =>
      d.kind === 'quality' ? [d.quality] : [],
    );

    assert.deepEqual(classes, ['poor']);
    const text = await t.registry.metrics();
    assert.equal(sample(text, 'stream_heartbeats_missed_total', { transport: 'grpc' }), 2);
    assert.equal(sample(text, 'stream_quality_changes_total', { from: 'good', to: 'poor' }), 1);
    assert.equal(sample(text, 'stream_connections', { transport: 'grpc', quality: 'poor' }), 1);
    assert.equal(sample(text, 'stream_connections', { transport: 'grpc', quality: 'good' }), 0);
  });

  test('a connection silent for the idle timeout is closed with a reason', async () => {
    const t = setup();
    const connection = t.make();
    const reader = new Reader(connection);
    connection.start();

    for (let i = 0; i < 4; i++) {
      t.advance(1_000);
      t.timers.fire(1_000);
    }
    await reader.drain();

    assert.ok(reader.error instanceof DomainError);
    assert.equal(reader.error.code, 'unavailable');
    assert.match(reader.error.message, /no heartbeat answered/);
    const text = await t.registry.metrics();
    assert.equal(sample(text, 'stream_idle_disconnects_total', {}), 1);
  });

  test('a poor link gets its book conflated and keeps the engine book (checksum)', async () => {
    const t = setup();
    const engine = new EngineBook();
    const client = new ClientBook();
    const connection = t.make();
    const reader = new Reader(connection);
    connection.start();
    connection.deliver(start(BOOK));
    connection.deliver(start(TRADES));
    missTwoBeats(t);
    assert.equal(connection.quality, 'poor');

    let trades = 0;
    for (let step = 0; step < 400; step++) {
      const next = engine.next();
      connection.deliver(entry(BOOK, next.seq, next.payload));
      if (step % 10 === 0) connection.deliver(trade((trades += 1)));
      if (step % 25 === 24) t.timers.fire(250);
      for (const delivery of await reader.drain()) client.apply(delivery);
    }
    t.timers.fire(250);
    for (const delivery of await reader.drain()) client.apply(delivery);

    const got = reader.received;
    assert.equal(client.seq, engine.book.seq);
    assert.equal(client.checksum(), engine.book.checksum());
    assert.equal(got.filter((d) => d.kind === 'entry' && d.stream === BOOK).length, 0);
    assert.equal(got.filter((d) => d.kind === 'conflated').length, 16);
    assert.equal(got.filter((d) => d.kind === 'entry' && d.stream === TRADES).length, trades);
    const text = await t.registry.metrics();
    assert.equal(sample(text, 'stream_conflated_messages_total', { reason: 'quality' }), 400);
  });

  test('a link that recovers gets plain deltas again, after what was folded', async () => {
    const t = setup();
    const engine = new EngineBook();
    const client = new ClientBook();
    const connection = t.make();
    const reader = new Reader(connection);
    connection.start();
    connection.deliver(start(BOOK));
    missTwoBeats(t);
    for (let i = 0; i < 5; i++) {
      const next = engine.next();
      connection.deliver(entry(BOOK, next.seq, next.payload));
    }

    // Answer fast until the class is good again.
    for (let i = 0; i < 4 && connection.quality === 'poor'; i++) {
      const beat = (await reader.drain()).findLast((d) => d.kind === 'heartbeat');
      t.advance(20);
      if (beat?.kind === 'heartbeat') connection.pong(beat.id);
      t.advance(980);
      t.timers.fire(1_000);
    }
    assert.ok(['excellent', 'good'].includes(connection.quality), connection.quality);
    const next = engine.next();
    connection.deliver(entry(BOOK, next.seq, next.payload));
    for (const delivery of reader.received) client.apply(delivery);
    for (const delivery of await reader.drain()) client.apply(delivery);

    assert.equal(client.seq, engine.book.seq);
    assert.equal(client.checksum(), engine.book.checksum());
    assert.equal(reader.received.at(-1)?.kind, 'entry');
  });

  test('a reader that stops is conflated, then cut off; another reader is unaffected', async () => {
    const t = setup();
    const engine = new EngineBook();
    const stalled = t.make('stalled');
    const healthy = t.make('healthy');
    const stalledReader = new Reader(stalled);
    const healthyReader = new Reader(healthy);
    const healthyBook = new ClientBook();
    for (const connection of [stalled, healthy]) {
      connection.start();
      connection.deliver(start(BOOK));
      connection.deliver(start(TRADES));
    }

    let conflatedBeforeCut = 0;
    for (let step = 1; step <= 2_000 && stalledReader.error === undefined; step++) {
      const next = engine.next();
      for (const connection of [stalled, healthy]) {
        connection.deliver(entry(BOOK, next.seq, next.payload));
        connection.deliver(trade(step));
      }
      if (step % 10 === 0) t.timers.fire(250);
      for (const delivery of await healthyReader.drain()) healthyBook.apply(delivery);
      const text = await t.registry.metrics();
      conflatedBeforeCut =
        sample(text, 'stream_conflated_messages_total', { reason: 'queue' }) ?? 0;
      if (sample(text, 'stream_slow_consumer_disconnects_total', {}) === 1) {
        await stalledReader.drain();
      }
    }

    assert.ok(conflatedBeforeCut > 0, 'conflated before it was cut off');
    assert.ok(stalledReader.error instanceof DomainError);
    assert.equal(stalledReader.error.code, 'resource_exhausted');
    assert.match(stalledReader.error.message, /reconnect and resume/);
    assert.equal(healthyReader.received.filter((d) => d.kind === 'conflated').length, 0);
    assert.equal(healthyBook.seq, engine.book.seq);
    assert.equal(healthyBook.checksum(), engine.book.checksum());
    const text = await t.registry.metrics();
    assert.equal(sample(text, 'stream_slow_consumer_disconnects_total', {}), 1);
  });
});
