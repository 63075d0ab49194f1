import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { loadMigrations } from './migration-files.js';
import type { Migration } from './migration-files.js';
import { assertIdentifier } from './sql-identifier.js';

export interface MigrationOptions {
  readonly pool: Pool;
  readonly logger: Logger;
  /** Schema to migrate (created if missing). Default: the connection's search_path. */
  readonly schema?: string;
  /** Default: ./migrations next to this module. */
  readonly directory?: string;
}

export interface MigrationResult {
  /** `NNNN_name` of each migration applied by this run, in order. */
  readonly applied: readonly string[];
  readonly alreadyApplied: number;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Applies pending migrations, each in its own transaction, recording them in
 * `schema_migrations`.
 *
 * Two pods starting together are safe: the run holds a session-level `pg_advisory_lock` on one
 * dedicated connection, so the second pod waits, then finds everything applied. On PGlite
 * (embedded mode) every socket connection shares ONE backend session, so the advisory lock is
 * re-entrant and excludes nothing; there is only one process in that mode, and the process-local
 * mutex below serialises runs within it. The mutex costs nothing against a real server.
 */
export async function runMigrations(options: MigrationOptions): Promise<MigrationResult> {
  const schema = options.schema === undefined ? undefined : assertIdentifier(options.schema);
  const migrations = await loadMigrations(options.directory);
  const lockName = `schema_migrations:${schema ?? '(search_path)'}`;
  return withProcessLock(lockName, () =>
    withAdvisoryLock(options.pool, lockName, (client) =>
      migrate(client, migrations, schema, options.logger.child({ component: 'migrations' })),
    ),
  );
}

async function migrate(
  client: PoolClient,
  migrations: readonly Migration[],
  schema: string | undefined,
  logger: Logger,
): Promise<MigrationResult> {
  // After the lock: CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent twin.
  if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);

  const appliedRows = await inTransaction(client, schema, async () => {
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const result = await client.query<AppliedRow>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
    );
    return result.rows;
  });
  const applied = new Map(appliedRows.map((row) => [row.version, row]));

  for (const migration of migrations) {
    const row = applied.get(migration.version);
    if (row !== undefined && row.checksum !== migration.checksum) {
      throw new Error(
        `migration ${label(migration)} was changed after it was applied; add a new migration instead`,
      );
    }
  }
  const known = new Set(migrations.map((m) => m.version));
  const unknown = appliedRows.filter((row) => !known.has(row.version));
  if (unknown.length > 0) {
    // A newer release already migrated this database (rolling deploy or rollback): not an error.
    logger.warn({ versions: unknown.map((row) => row.version) }, 'database has newer migrations');
  }

  const done: string[] = [];
  for (const migration of migrations.filter((m) => !applied.has(m.version))) {
    const started = performance.now();
    await inTransaction(client, schema, async () => {
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)',
        [migration.version, migration.name, migration.checksum],
      );
    });
    logger.info(
      { migration: label(migration), schema, durationMs: Math.round(performance.now() - started) },
      'migration applied',
    );
    done.push(label(migration));
  }
  return { applied: done, alreadyApplied: migrations.length - done.length };
}

const label = (m: Migration): string => `${String(m.version).padStart(4, '0')}_${m.name}`;

/**
 * SET LOCAL rather than a session-wide SET: on PGlite the session is shared with every other
 * connection of the process, and a session setting would leak into them.
 */
async function inTransaction<T>(
  client: PoolClient,
  schema: string | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    if (schema !== undefined) await client.query(`SET LOCAL search_path TO ${schema}`);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function withAdvisoryLock<T>(
  pool: Pool,
  lockName: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const key = advisoryKey(lockName);
  const client = await pool.connect();
  let healthy = true;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => {
        healthy = false; // the server frees a session's locks when its connection goes away
      });
    }
  } catch (error) {
    healthy = false;
    throw error;
  } finally {
    // A connection that failed mid-run may still hold the lock or a transaction: destroy it.
    client.release(!healthy);
  }
}

/** A stable signed 48-bit key (safe as a JS number) derived from the lock's name. */
const advisoryKey = (lockName: string): string =>
  BigInt.asIntN(
    48,
    BigInt(`0x${createHash('sha256').update(lockName).digest('hex').slice(0, 12)}`),
  ).toString();

const processLocks = new Map<string, Promise<unknown>>();

async function withProcessLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const previous = processLocks.get(name) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(fn);
  processLocks.set(name, run);
  try {
    return await run;
  } finally {
    if (processLocks.get(name) === run) processLocks.delete(name);
  }
}
