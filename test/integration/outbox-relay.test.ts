import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { OutboxRelay } from '../../src/adapters/orders/outbox-relay.js';
import { runMigrations, type Postgres } from '../../src/adapters/postgres/index.js';
import { MemoryStreamLog } from '../../src/adapters/stream-log/stream-log.memory.js';
import type { StreamEntry } from '../../src/domain/ports/stream-log.port.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
import { eventually, metricValue, silentLogger } from '../unit/adapters/support/observability.js';

const database = new PostgresTestSchema();
let postgres: Postgres;

/** A migrated schema of its own in the test database. */
async function migrated(schema: PostgresTestSchema, max: number): Promise<Postgres> {
  const db = schema.create({ max });
  await runMigrations({ pool: db.pool, logger: silentLogger(), schema: schema.schema });
  return db;
}

before(async () => {
  postgres = await migrated(database, 4);
});
after(() => database.cleanup());

/** A relay of the test schema's outbox to `streamLog`, with metrics nobody reads. */
const relayTo = (streamLog: MemoryStreamLog) =>
  new OutboxRelay({ postgres, streamLog, logger: silentLogger(), registry: new Registry() });

/** A stream log that is down until `up` is set (Redis failing over, say). */
class FlakyStreamLog extends MemoryStreamLog {
  up = false;
  override append(entries: readonly StreamEntry[]): Promise<number> {
    return this.up ? super.append(entries) : Promise.reject(new Error('stream log unreachable'));
  }
}

/**
 * A stream log whose appends wait until `release()`: its relay holds its lock and rows (in a
 * transaction) until then. Appended entries land in `target`.
 */
function stuckStreamLog(target = new MemoryStreamLog()) {
  let release: () => void = () => undefined;
  const stuck = new Promise<void>((resolve) => {
    release = resolve;
  });
  class StuckStreamLog extends MemoryStreamLog {
    override async append(entries: readonly StreamEntry[]): Promise<number> {
      await stuck;
      return target.append(entries);
    }
  }
  return { streamLog: new StuckStreamLog(), release };
}

test('while publishing fails the backlog stays visible in outbox_pending, then drains', async () => {
  await postgres.query(
    `INSERT INTO outbox (stream, seq, payload)
     SELECT 'user:1', g, '{}' FROM generate_series(1, 3) g`,
  );
  const registry = new Registry();
  const streamLog = new FlakyStreamLog();
  const relay = new OutboxRelay(
    { postgres, streamLog, logger: silentLogger(), registry },
    { pollIntervalMs: 20, retryDelayMs: 20 },
  );
  relay.start();
  try {
    await eventually(
      async () => ((await metricValue(registry, 'outbox_relay_failures_total')) ?? 0) >= 2,
      { what: 'failed passes' },
    );
    await eventually(async () => (await metricValue(registry, 'outbox_pending')) === 3, {
      what: 'the backlog measured while failing',
    });
    assert.ok(((await metricValue(registry, 'outbox_lag_seconds')) ?? -1) >= 0);

    streamLog.up = true;
    await eventually(async () => (await metricValue(registry, 'outbox_pending')) === 0, {
      what: 'the backlog drained',
    });
    assert.equal(await metricValue(registry, 'outbox_published_total'), 3);
    assert.deepEqual(
      (await streamLog.read('user:1', 0, 10)).map((entry) => entry.seq),
      [1, 2, 3],
    );
  } finally {
    await relay.stop();
  }
});

test('a relay busy in another schema of the database does not hold this one up', async () => {
  const other = new PostgresTestSchema();
  const elsewhere = await migrated(other, 2);
  const { streamLog: stuckLog, release } = stuckStreamLog();
  try {
    await elsewhere.query(`INSERT INTO outbox (stream, seq, payload) VALUES ('user:9', 1, '{}')`);
    const busy = new OutboxRelay({
      postgres: elsewhere,
      streamLog: stuckLog,
      logger: silentLogger(),
      registry: new Registry(),
    }).publishOnce();
    await postgres.query(
      `INSERT INTO outbox (stream, seq, payload)
       SELECT 'user:2', g, '{}' FROM generate_series(1, 2) g`,
    );
    const here = new OutboxRelay({
      postgres,
      streamLog: new MemoryStreamLog(),
      logger: silentLogger(),
      registry: new Registry(),
    });
    assert.equal(await here.publishOnce(), 2);
    release();
    assert.equal(await busy, 1);
  } finally {
    release();
    await other.cleanup();
  }
});

test('while one relay publishes, a second one of the schema takes nothing, at once', async () => {
  const published = new MemoryStreamLog();
  const { streamLog: stuckLog, release } = stuckStreamLog(published);
  try {
    await postgres.query(
      `INSERT INTO outbox (stream, seq, payload)
       SELECT 'user:4', g, '{}' FROM generate_series(1, 2) g`,
    );
    const first = new OutboxRelay({
      postgres,
      streamLog: stuckLog,
      logger: silentLogger(),
      registry: new Registry(),
    }).publishOnce();
    await eventually(
      async () => {
        // Free, it is taken and let go at once (the statement is its own transaction).
        const { rows } = await postgres.query<{ free: boolean }>(
          "SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), hashtext('outbox-relay')) AS free",
        );
        return rows[0]?.free === false;
      },
      { what: 'the first relay to hold the relay lock' },
    );
    await postgres.query(`INSERT INTO outbox (stream, seq, payload) VALUES ('user:4', 3, '{}')`);

    // Not even the row the first relay has not taken: it would overtake seqs 1 and 2.
    assert.equal(await relayTo(published).publishOnce(), 0);
    release();
    assert.equal(await first, 2);
    assert.equal(await relayTo(published).publishOnce(), 1);
    assert.deepEqual(
      (await published.read('user:4', 0, 10)).map((e) => e.seq),
      [1, 2, 3],
    );
  } finally {
    release();
  }
});

test('rows are published in id order, also where the ids gain a digit', async () => {
  // Ordered as text, 1000000 would come before 999998: seq 3 before seq 1 of the same stream,
  // and the stream log would drop 1 and 2 as already superseded.
  await postgres.query(
    `INSERT INTO outbox (id, stream, seq, payload) OVERRIDING SYSTEM VALUE
     VALUES (999998, 'user:42', 1, '{}'), (999999, 'user:42', 2, '{}'),
            (1000000, 'user:42', 3, '{}'), (1000001, 'user:42', 4, '{}')`,
  );
  const streamLog = new MemoryStreamLog();
  const relay = relayTo(streamLog);

  assert.equal(await relay.publishOnce(), 4);

  assert.deepEqual(
    (await streamLog.read('user:42', 0, 10)).map((entry) => entry.seq),
    [1, 2, 3, 4],
  );
});

test('a batch row publishes its events in order, between the rows before and after it', async () => {
  // Migration 0004: the engine writes one row per batch; a release before it wrote one row
  // per event, and both may be waiting during a rolling deploy.
  await postgres.query(
    `INSERT INTO outbox (stream, seq, payload) VALUES ('user:7', 1, 'a');
     INSERT INTO outbox (streams, seqs, payloads)
       VALUES (ARRAY['user:7', 'book:X', 'user:7'], ARRAY[2, 1, 3], ARRAY['b', 'c', 'd']);
     INSERT INTO outbox (stream, seq, payload) VALUES ('user:7', 4, 'e')`,
  );
  const registry = new Registry();
  const streamLog = new MemoryStreamLog();
  const relay = new OutboxRelay({ postgres, streamLog, logger: silentLogger(), registry });

  assert.equal((await relay.measure()).pending, 5);
  assert.equal(await relay.publishOnce(), 5);

  assert.deepEqual(
    (await streamLog.read('user:7', 0, 10)).map((entry) => [entry.seq, entry.payload]),
    [
      [1, 'a'],
      [2, 'b'],
      [3, 'd'],
      [4, 'e'],
    ],
  );
  assert.deepEqual(
    (await streamLog.read('book:X', 0, 10)).map((entry) => [entry.seq, entry.payload]),
    [[1, 'c']],
  );
  assert.equal(await metricValue(registry, 'outbox_published_total'), 5);
  assert.equal((await relay.measure()).pending, 0);
});

test('an outbox row is one event or one batch of events, never a mix or an empty batch', async () => {
  await assert.rejects(
    postgres.query(
      `INSERT INTO outbox (stream, seq, payload, streams, seqs, payloads)
       VALUES ('user:8', 1, 'a', ARRAY['user:8'], ARRAY[2], ARRAY['b'])`,
    ),
    /outbox_event_or_batch/,
  );
  await assert.rejects(
    postgres.query(
      `INSERT INTO outbox (streams, seqs, payloads) VALUES (ARRAY['user:8'], ARRAY[1, 2], ARRAY['a'])`,
    ),
    /outbox_event_or_batch/,
  );
  await assert.rejects(
    postgres.query(`INSERT INTO outbox (streams, seqs, payloads) VALUES ('{}', '{}', '{}')`),
    /outbox_event_or_batch/,
  );
});

test("a batch row's payloads are stored out of line uncompressed, and publish intact", async () => {
  // Migration 0005: compressing them cost the engine's write more than the space was worth.
  const payload = `{"event":"order","padding":"${'x'.repeat(200)}"}`;
  await postgres.query(
    `INSERT INTO outbox (streams, seqs, payloads)
     SELECT array_agg('user:9'::text), array_agg(g), array_agg($1::text)
     FROM generate_series(1, 120) g`,
    [payload],
  );
  // As stored (RETURNING would show the row before TOAST compresses it).
  const { rows } = await postgres.query<{ stored: string; compression: string | null }>(
    `SELECT pg_column_size(payloads)::text AS stored, pg_column_compression(payloads) AS compression
     FROM outbox WHERE streams[1] = 'user:9'`,
  );
  const [row] = rows;
  assert.ok(row !== undefined && rows.length === 1);
  assert.equal(row.compression, null);
  assert.ok(Number(row.stored) > 120 * payload.length, 'payloads stored compressed');
  const streamLog = new MemoryStreamLog();
  const relay = relayTo(streamLog);

  assert.equal(await relay.publishOnce(), 120);

  const published = await streamLog.read('user:9', 0, 200);
  assert.equal(published.length, 120);
  assert.ok(published.every((entry) => entry.payload === payload));
});
