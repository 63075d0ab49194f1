import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { ShardLeadership } from '../../src/adapters/orders/shard-leadership.postgres.js';
import type { Postgres } from '../../src/adapters/postgres/index.js';
import { DATABASE_URL, PostgresTestSchema } from '../contract/support/postgres.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const database = new PostgresTestSchema();
const LEASE_MS = 1_000;
let postgres: Postgres;

before(async () => {
  postgres = database.create({ max: 6 });
  await postgres.query(`CREATE SCHEMA ${database.schema}`);
  await postgres.query(
    `CREATE TABLE ${database.schema}.engine_leases (shard text PRIMARY KEY, holder text NOT NULL,
       renewed_at timestamptz NOT NULL)`,
  );
});
after(() => database.cleanup());

function candidate(name: string, events: string[], registry = new Registry()) {
  return new ShardLeadership({
    shard: 'shard-0',
    postgres,
    pollIntervalMs: 50,
    leaseMs: LEASE_MS,
    holder: name,
    logger: silentLogger(),
    registry,
    onAcquired: () => {
      events.push(`${name} leads`);
      return Promise.resolve();
    },
    onLost: () => {
      events.push(`${name} stops`);
      return Promise.resolve();
    },
  });
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Terminates the session holding this schema's lock on shard-0, as a network cut or an
 * administrator would, and no other session on the server: the lock key is the one
 * ShardLeadership takes (this schema, the shard), in this database only.
 */
async function terminateShardLeader(): Promise<void> {
  // Two statements: in one, the planner may call pg_terminate_backend before the filters.
  const { rows } = await postgres.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND objsubid = 2
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND classid = hashtext(current_schema())::oid AND objid = hashtext('shard-0')::oid`,
  );
  assert.equal(rows.length, 1, 'one session leads shard-0 in this schema');
  await postgres.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [
    rows.map((row) => row.pid),
  ]);
}

/** A session of another test run, in `databaseUrl`, holding shard-0 under another schema. */
async function bystander(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  client.on('error', () => undefined); // reported by the next query instead
  await client.query("SELECT pg_advisory_lock(hashtext('someone_else'), hashtext('shard-0'))");
  return client;
}

test('one leader per shard; when its lock connection dies it steps down and a standby takes over', async () => {
  const events: string[] = [];
  const a = candidate('a', events);
  const b = candidate('b', events);
  try {
    await a.start();
    await b.start();
    assert.equal(a.leading, true);
    assert.equal(b.leading, false);
    assert.deepEqual(events, ['a leads']);

    // What a network cut or an administrator does to the leader's session.
    await terminateShardLeader();
    await until('b leads', () => b.leading);
    await until('a has stepped down', () => !a.leading);
    assert.deepEqual(new Set(events), new Set(['a leads', 'a stops', 'b leads']));
    // A stays a candidate: it is the standby now, and takes over when b lets go.
    await b.stop();
    await until('a leads again', () => a.leading);
  } finally {
    await a.stop();
    await b.stop();
  }
});

const sample = async (registry: Registry, name: string, labels: Record<string, string>) =>
  (await registry.getSingleMetric(name)?.get())?.values.find((value) =>
    Object.entries(labels).every(([key, label]) => value.labels[key] === label),
  )?.value;

test('a leader silent past its lease loses the lock to PostgreSQL; the next leader measures its takeover', async () => {
  const events: string[] = [];
  const registries = { a: new Registry(), b: new Registry() };
  const a = candidate('a', events, registries.a);
  const b = candidate('b', events, registries.b);
  await postgres.query(`DELETE FROM ${database.schema}.engine_leases`); // no takeover at start
  try {
    await a.start();
    await b.start();
    assert.equal(a.leading, true);
    // This process stops as a paused pod would: no heartbeat, no timer, its sessions open.
    // Both sessions go silent, so either candidate may lead next; a must have stepped down.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LEASE_MS * 2);
    await until('a has stepped down', () => events.includes('a stops'));
    await until('a leader again', () => a.leading !== b.leading);
    assert.equal(
      await sample(registries.a, 'engine_leadership_lost_total', { reason: 'lease' }),
      1,
    );
    const [name, registry] = b.leading ? ['b', registries.b] : ['a', registries.a];
    const takeover = await registry.getSingleMetricAsString('engine_takeover_seconds');
    const series = (metric: string) =>
      Number(new RegExp(`^${metric}\\{shard="shard-0"\\} (\\S+)$`, 'm').exec(takeover)?.[1]);
    assert.equal(series('engine_takeover_seconds_count'), 1);
    const seconds = series('engine_takeover_seconds_sum');
    assert.ok(seconds >= LEASE_MS / 1000, `takeover ${seconds} s`);
    const { rows } = await postgres.query<{ holder: string }>(
      `SELECT holder FROM ${database.schema}.engine_leases WHERE shard = 'shard-0'`,
    );
    assert.deepEqual(rows, [{ holder: name }]);
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a leader whose start outlasts its lease keeps the shard: it renews while it starts', async () => {
  const events: string[] = [];
  const slow = new ShardLeadership({
    shard: 'shard-0',
    postgres,
    pollIntervalMs: 50,
    leaseMs: 200,
    holder: 'slow',
    logger: silentLogger(),
    registry: new Registry(),
    onAcquired: async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // rebuilding big books
      events.push('slow leads');
    },
    onLost: () => {
      events.push('slow stops');
      return Promise.resolve();
    },
  });
  const other = candidate('other', events);
  try {
    await slow.start();
    await other.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(events, ['slow leads']);
    assert.equal(slow.leading, true);
    assert.equal(other.leading, false);
  } finally {
    await slow.stop();
    await other.stop();
  }
});

test('a schema is its own namespace: the same shard name leads in two schemas at once', async () => {
  const other = new PostgresTestSchema();
  const elsewhere = other.create({ max: 2 });
  await elsewhere.query(`CREATE SCHEMA ${other.schema}`);
  await elsewhere.query(
    `CREATE TABLE ${other.schema}.engine_leases (shard text PRIMARY KEY, holder text NOT NULL,
       renewed_at timestamptz NOT NULL)`,
  );
  const here = candidate('here', []);
  const there = new ShardLeadership({
    shard: 'shard-0',
    postgres: elsewhere,
    pollIntervalMs: 50,
    leaseMs: LEASE_MS,
    holder: 'there',
    logger: silentLogger(),
    registry: new Registry(),
    onAcquired: () => Promise.resolve(),
    onLost: () => Promise.resolve(),
  });
  try {
    await here.start();
    await there.start();
    assert.equal(here.leading, true);
    assert.equal(there.leading, true);
  } finally {
    await here.stop();
    await there.stop();
    await other.cleanup();
  }
});

test("cutting the leader's session leaves other schemas' and databases' sessions alone", async () => {
  const here = candidate('here', []);
  const sameDatabase = await bystander(DATABASE_URL);
  const otherUrl = new URL(DATABASE_URL);
  otherUrl.pathname = '/postgres';
  const otherDatabase = await bystander(otherUrl.toString());
  try {
    await here.start();
    assert.equal(here.leading, true);

    await terminateShardLeader();

    await until('here has stepped down', () => !here.leading);
    for (const client of [sameDatabase, otherDatabase]) {
      const { rows } = await client.query<{ alive: number }>('SELECT 1 AS alive');
      assert.equal(rows[0]?.alive, 1);
    }
  } finally {
    await here.stop();
    await sameDatabase.end().catch(() => undefined);
    await otherDatabase.end().catch(() => undefined);
  }
});
