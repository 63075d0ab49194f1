import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { MEMORY_DATA_DIR, startEmbeddedPostgres } from '../../src/adapters/postgres/embedded.js';
import type { EmbeddedPostgres } from '../../src/adapters/postgres/embedded.js';
import { loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import { createPostgres } from '../../src/adapters/postgres/pool.js';
import type { Postgres } from '../../src/adapters/postgres/pool.js';
import { silentLogger, sleep } from '../unit/adapters/support/observability.js';

/** Every migration file, in order: what a fresh database must end up with. */
const ALL_MIGRATIONS = (await loadMigrations()).map(
  (m) => `${String(m.version).padStart(4, '0')}_${m.name}`,
);

const logger = silentLogger();

const connect = (server: EmbeddedPostgres): Postgres =>
  createPostgres({
    connectionString: server.connectionString,
    max: 4,
    healthCheckIntervalMs: 0,
    logger,
    registry: new Registry(),
  });

describe('embedded PostgreSQL (PGlite over pglite-socket)', () => {
  let server: EmbeddedPostgres;
  let db: Postgres;

  before(async () => {
    server = await startEmbeddedPostgres({ dataDir: MEMORY_DATA_DIR, maxConnections: 8, logger });
    db = connect(server);
  });
  after(async () => {
    await db.close();
    await server.close();
  });

  test('runs the same migrations as the real server, idempotently', async () => {
    const first = await runMigrations({ pool: db.pool, logger });
    const second = await runMigrations({ pool: db.pool, logger });

    assert.deepEqual(first.applied, ALL_MIGRATIONS);
    assert.deepEqual(second, { applied: [], alreadyApplied: ALL_MIGRATIONS.length });
  });

  test('concurrent runs in one process apply each migration once', async () => {
    const otherDb = connect(server);
    try {
      const results = await Promise.all([
        runMigrations({ pool: db.pool, logger, schema: 'tenant_a' }),
        runMigrations({ pool: otherDb.pool, logger, schema: 'tenant_a' }),
      ]);

      assert.deepEqual(
        results.flatMap((r) => r.applied),
        ALL_MIGRATIONS,
      );
    } finally {
      await otherDb.close();
    }
  });

  test('answers the health check through the pool', async () => {
    assert.equal(await db.checkHealth(), true);
  });

  test('serves a pool of several connections, queueing one while another is in a transaction', async () => {
    let committed = false;
    const writer = db.withTransaction(async (tx) => {
      await tx.query(`INSERT INTO users (username, password_hash) VALUES ('queued', 'h')`);
      await sleep(100);
      committed = true;
    });
    await sleep(20);

    const reader = await db
      .query<{ count: string }>(`SELECT count(*) FROM users WHERE username = 'queued'`)
      .then((result) => ({ count: result.rows[0]?.count, committedBeforeRead: committed }));
    await writer;

    assert.equal(db.pool.totalCount > 1, true);
    assert.deepEqual(reader, { count: '1', committedBeforeRead: true });
  });
});

describe('embedded PostgreSQL on disk', () => {
  let parent: string;
  before(async () => {
    parent = await mkdtemp(join(tmpdir(), 'pglite-'));
  });
  after(() => rm(parent, { recursive: true, force: true }));

  test('creates the data directory and keeps the data across restarts', async () => {
    const dataDir = join(parent, 'nested', 'data');
    const first = await startEmbeddedPostgres({ dataDir, logger });
    const firstDb = connect(first);
    await runMigrations({ pool: firstDb.pool, logger });
    await firstDb.query(`INSERT INTO users (username, password_hash) VALUES ('durable', 'h')`);
    await firstDb.close();
    await first.close();

    const second = await startEmbeddedPostgres({ dataDir, logger });
    const secondDb = connect(second);
    try {
      const migrations = await runMigrations({ pool: secondDb.pool, logger });
      const { rows } = await secondDb.query<{ username: string }>('SELECT username FROM users');

      assert.deepEqual(migrations.applied, []);
      assert.deepEqual(rows, [{ username: 'durable' }]);
    } finally {
      await secondDb.close();
      await second.close();
    }
  });
});
