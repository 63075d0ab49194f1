import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DRAIN_REASON, StreamDrain } from '../../../src/domain/streams/stream-drain.js';
import { SeededRandom } from '../../../src/tools/seeded-random.js';
import { LogCapture } from '../../support/app.js';

/** Time that moves only when the test says so; sleeps resolve as it passes their end. */
class FakeTime {
  now = 0;
  readonly #sleepers: { until: number; wake: () => void }[] = [];

  sleep = (ms: number) =>
    new Promise<void>((wake) => {
      this.#sleepers.push({ until: this.now + ms, wake });
    });

  async advance(ms: number): Promise<void> {
    this.now += ms;
    for (const sleeper of this.#sleepers.filter((s) => s.until <= this.now)) {
      this.#sleepers.splice(this.#sleepers.indexOf(sleeper), 1);
      sleeper.wake();
    }
    // Let the woken continuations run.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

class FakeConnection {
  readonly told: { delayMs: number; reason: string; at: number }[] = [];
  closedAt: number | undefined;

  constructor(private readonly time: FakeTime) {}

  readonly transport = 'grpc';
  reconnect(delayMs: number, reason: string): void {
    this.told.push({ delayMs, reason, at: this.time.now });
  }
  close(): void {
    this.closedAt = this.time.now;
  }
}

function setup(windowMs = 1_000, seed = 7) {
  const time = new FakeTime();
  const observed: number[] = [];
  const random = new SeededRandom(seed);
  const drain = new StreamDrain({
    windowMs,
    random: () => random.next(),
    sleep: time.sleep,
    now: () => time.now,
    observe: (seconds) => observed.push(seconds),
    logger: new LogCapture().logger(),
  });
  return { time, drain, observed };
}

describe('StreamDrain', () => {
  test('each connection is told to reconnect once, with its own delay inside the window, and ends then', async () => {
    const { time, drain, observed } = setup(1_000);
    const connections = Array.from({ length: 50 }, () => new FakeConnection(time));
    for (const connection of connections) drain.add(connection);

    const drained = drain.drain();
    for (let t = 0; t < 1_000; t += 10) await time.advance(10);
    await drained;

    const delays = connections.map((c) => c.told[0]?.delayMs ?? -1);
    assert.ok(
      connections.every((c) => c.told.length === 1 && c.told[0]?.at === 0),
      'told at once',
    );
    assert.ok(
      delays.every((d) => d >= 0 && d < 1_000),
      `delays ${delays.join(',')}`,
    );
    assert.ok(new Set(delays).size > 40, 'spread, not a herd');
    assert.ok(delays.some((d) => d < 250) && delays.some((d) => d >= 750), 'across the window');
    for (const connection of connections) {
      const { delayMs = -1 } = connection.told[0] ?? {};
      assert.ok(
        connection.closedAt !== undefined && connection.closedAt >= delayMs,
        'closed after its delay',
      );
      assert.ok(connection.closedAt < delayMs + 10, 'and not much later');
    }
    assert.equal(connections[0]?.told[0]?.reason, DRAIN_REASON);
    assert.equal(drain.size, 0);
    assert.equal(observed.length, 1);
    assert.ok(observed[0]! <= 1, `drain took ${observed[0]} s`);
  });

  test('the same seed gives the same delays', async () => {
    const delaysOf = async () => {
      const { time, drain } = setup(1_000, 99);
      const connections = [new FakeConnection(time), new FakeConnection(time)];
      for (const connection of connections) drain.add(connection);
      const drained = drain.drain();
      await time.advance(1_000);
      await drained;
      return connections.map((c) => c.told[0]?.delayMs);
    };

    assert.deepEqual(await delaysOf(), await delaysOf());
  });

  test('a connection that ends by itself is not closed again', async () => {
    const { time, drain } = setup(1_000);
    const connection = new FakeConnection(time);
    const remove = drain.add(connection);

    const drained = drain.drain();
    remove();
    await time.advance(1_000);
    await drained;

    assert.equal(connection.told.length, 1);
    assert.equal(connection.closedAt, undefined);
  });

  test('a connection opened during the drain is told too, within what is left of the window', async () => {
    const { time, drain } = setup(1_000);
    drain.add(new FakeConnection(time));
    const drained = drain.drain();
    await time.advance(600);

    const late = new FakeConnection(time);
    drain.add(late);
    await time.advance(400);
    await drained;

    assert.equal(late.told.length, 1);
    assert.ok((late.told[0]?.delayMs ?? 1_000) < 400);
    assert.ok(late.closedAt !== undefined && late.closedAt <= 1_000);
  });

  test('with nothing open the drain finishes at once', async () => {
    const { drain, observed } = setup();

    await drain.drain();

    assert.deepEqual(observed, [0]);
  });
});
