import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { ShardLeadership } from '../../src/adapters/orders/shard-leadership.postgres.js';
import type { Postgres } from '../../src/adapters/postgres/index.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
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
    await postgres.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objid = hashtext('shard-0')::oid`,
    );
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
