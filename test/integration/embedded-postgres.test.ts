import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import {
  MEMORY_DATA_DIR,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from '../../src/adapters/postgres/embedded.js';

let embedded: EmbeddedPostgres;
const clients: pg.Client[] = [];
const logLines: { msg: string }[] = [];
const rolledBack = () =>
  logLines.filter((line) => line.msg.includes('closed mid-transaction')).length;

before(async () => {
  embedded = await startEmbeddedPostgres({
    logger: pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          logLines.push(JSON.parse(line) as { msg: string });
        },
      },
    ),
    dataDir: MEMORY_DATA_DIR,
  });
});

after(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  await embedded.close();
});

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: embedded.connectionString });
  await client.connect();
  clients.push(client);
  return client;
}

/** Fails instead of hanging the suite when the connections wait for each other. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: not done within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('concurrent connections each get their own answers: no query runs inside another connection’s', async () => {
  // Parameterised queries use the extended protocol (Parse, Bind, Execute … Sync): several
  // messages per query. Interleaving other connections' messages between them mixes up
  // unnamed statements and leaves the shared session in a transaction nobody owns.
  const readers = await Promise.all([connect(), connect(), connect()]);
  const writer = await connect();
  await writer.query('CREATE TABLE IF NOT EXISTS counters (id int PRIMARY KEY, n int NOT NULL)');
  await writer.query('INSERT INTO counters VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');

  const read = async (client: pg.Client, base: number) => {
    for (let i = 0; i < 150; i += 1) {
      const { rows } = await client.query<{ v: number }>('SELECT $1::int AS v', [base + i]);
      assert.equal(rows[0]?.v, base + i, 'a query answered with another query’s value');
    }
  };
  const write = async () => {
    for (let i = 0; i < 150; i += 1) {
      await writer.query('BEGIN');
      await writer.query('UPDATE counters SET n = n + $1 WHERE id = 1', [1]);
      // Something else happens before COMMIT, as in a real transaction.
      await sleep(0);
      await writer.query('COMMIT');
    }
  };

  await within(
    20_000,
    'readers and a writer',
    Promise.all([...readers.map((client, c) => read(client, c * 1_000)), write()]),
  );

  const { rows } = await writer.query<{ n: number }>('SELECT n FROM counters WHERE id = 1');
  assert.equal(rows[0]?.n, 150);
  const idle = await within(
    5_000,
    'a query after the load',
    writer.query<{ one: number }>('SELECT 1 AS one'),
  );
  assert.equal(idle.rows[0]?.one, 1);
});

test('a connection that goes away inside a transaction releases the session, rolled back', async () => {
  const closing = await connect();
  await closing.query('SELECT 1');
  await closing.end();
  assert.equal(rolledBack(), 0, 'a plain close is not a rollback');

  const leaving = await connect();
  const staying = await connect();
  await staying.query('CREATE TABLE IF NOT EXISTS notes (body text)');
  await leaving.query('BEGIN');
  await leaving.query('INSERT INTO notes VALUES ($1)', ['never committed']);
  // The other connection waits for the transaction, then runs once the first goes away.
  const waiting = staying.query<{ n: string }>('SELECT count(*)::text AS n FROM notes');
  await leaving.end();
  const { rows } = await within(5_000, 'the waiting query', waiting);
  assert.equal(rows[0]?.n, '0');
  assert.equal(rolledBack(), 1);
});
