import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadMigrations } from '../../src/adapters/postgres/migration-files.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

/** Every migration file, in order: what a fresh database must end up with. */
const ALL_MIGRATIONS = (await loadMigrations()).map(
  (m) => `${String(m.version).padStart(4, '0')}_${m.name}`,
);

const logger = silentLogger();

describe('migrations against a real server', () => {
  const schemas: PostgresTestSchema[] = [];
  const fresh = (): PostgresTestSchema => {
    const pg = new PostgresTestSchema();
    schemas.push(pg);
    return pg;
  };
  after(() => Promise.all(schemas.map((pg) => pg.cleanup())));

  test('applies every migration once and does nothing when run again', async () => {
    const pg = fresh();
    const db = pg.create();

    const first = await runMigrations({ pool: db.pool, logger, schema: pg.schema });
    const second = await runMigrations({ pool: db.pool, logger, schema: pg.schema });

    assert.deepEqual(first, { applied: ALL_MIGRATIONS, alreadyApplied: 0 });
    assert.deepEqual(second, { applied: [], alreadyApplied: ALL_MIGRATIONS.length });
  });

  test('two pools migrating at once both succeed and apply each migration once', async () => {
    const pg = fresh();
    const podA = pg.create();
    const podB = pg.create();

    const results = await Promise.all([
      runMigrations({ pool: podA.pool, logger, schema: pg.schema }),
      runMigrations({ pool: podB.pool, logger, schema: pg.schema }),
    ]);

    assert.deepEqual(results.flatMap((r) => r.applied).sort(), ALL_MIGRATIONS);
    const { rows } = await podA.query<{ count: string }>('SELECT count(*) FROM schema_migrations');
    assert.equal(rows[0]?.count, String(ALL_MIGRATIONS.length));
  });

  test('creates the tables the auth and account features rely on, with their invariants', async () => {
    const pg = fresh();
    const db = pg.create();
    await runMigrations({ pool: db.pool, logger, schema: pg.schema });
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO users (username, password_hash) VALUES ('Alice', 'h') RETURNING id`,
    );
    const userId = rows[0]?.id;
    await db.query(`INSERT INTO balances (user_id, asset, available) VALUES ($1, 'USD', 100)`, [
      userId,
    ]);
    await db.query(
      `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
       VALUES ($1, gen_random_uuid(), 'hash-1', now() + interval '1 day')`,
      [userId],
    );

    await assert.rejects(
      db.query(`INSERT INTO users (username, password_hash) VALUES ('alice', 'h')`),
      { code: '23505', constraint: 'users_username_lower_key' },
    );
    await assert.rejects(
      db.query(`UPDATE balances SET available = available - 101 WHERE user_id = $1`, [userId]),
      { code: '23514' },
    );
    await assert.rejects(
      db.query(
        `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
         VALUES ($1, gen_random_uuid(), 'hash-1', now())`,
        [userId],
      ),
      { code: '23505' },
    );
  });

  test('refuses to run when an applied migration was edited', async () => {
    const pg = fresh();
    const db = pg.create();
    const directory = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await writeFile(join(directory, '0001_things.sql'), 'CREATE TABLE things (id int);');
      await runMigrations({ pool: db.pool, logger, schema: pg.schema, directory });
      await writeFile(join(directory, '0001_things.sql'), 'CREATE TABLE things (id bigint);');

      await assert.rejects(
        runMigrations({ pool: db.pool, logger, schema: pg.schema, directory }),
        /0001_things was changed after it was applied/,
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('a failing migration leaves nothing behind and the next run retries it', async () => {
    const pg = fresh();
    const db = pg.create();
    const directory = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await writeFile(
        join(directory, '0001_broken.sql'),
        'CREATE TABLE half (id int); SELECT no_such_function();',
      );
      await assert.rejects(runMigrations({ pool: db.pool, logger, schema: pg.schema, directory }));
      await writeFile(join(directory, '0001_broken.sql'), 'CREATE TABLE half (id int);');

      const result = await runMigrations({ pool: db.pool, logger, schema: pg.schema, directory });

      assert.deepEqual(result.applied, ['0001_broken']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('rejects a migration file that does not follow NNNN_name.sql', async () => {
    const pg = fresh();
    const db = pg.create();
    const directory = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await writeFile(join(directory, '1_oops.sql'), 'SELECT 1;');

      await assert.rejects(
        runMigrations({ pool: db.pool, logger, schema: pg.schema, directory }),
        /must be named NNNN_lower_snake_name\.sql/,
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
