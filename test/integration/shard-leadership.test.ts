import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { Registry } from 'prom-client';
import { ShardLeadership } from '../../src/adapters/orders/shard-leadership.postgres.js';
import type { Postgres } from '../../src/adapters/postgres/index.js';
import { DATABASE_URL, PostgresTestSchema } from '../contract/support/postgres.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const database = new PostgresTestSchema();
let postgres: Postgres;

before(async () => {
  postgres = database.create({ max: 6 });
  await postgres.query(`CREATE SCHEMA ${database.schema}`);
});
after(() => database.cleanup());

function candidate(name: string, events: string[]) {
  return new ShardLeadership({
    shard: 'shard-0',
    postgres,
    pollIntervalMs: 50,
    logger: silentLogger(),
    registry: new Registry(),
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

test('a schema is its own namespace: the same shard name leads in two schemas at once', async () => {
  const other = new PostgresTestSchema();
  const elsewhere = other.create({ max: 2 });
  await elsewhere.query(`CREATE SCHEMA ${other.schema}`);
  const here = candidate('here', []);
  const there = new ShardLeadership({
    shard: 'shard-0',
    postgres: elsewhere,
    pollIntervalMs: 50,
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
