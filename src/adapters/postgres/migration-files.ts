import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** sha256 of the file: an applied migration must never change. */
  readonly checksum: string;
}

/**
 * Migrations ship as SQL files next to this module. `tsc` does not copy them, so a build that
 * runs from dist/ must copy src/adapters/postgres/migrations/*.sql alongside (or pass `directory`).
 */
export const DEFAULT_MIGRATIONS_DIRECTORY = fileURLToPath(
  new URL('./migrations/', import.meta.url),
);

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads `NNNN_name.sql` files in version order; any other `.sql` name is a mistake and fails. */
export async function loadMigrations(
  directory: string = DEFAULT_MIGRATIONS_DIRECTORY,
): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = MIGRATION_FILE.exec(file);
    if (match?.[1] === undefined || match[2] === undefined) {
      throw new Error(`migration file "${file}" must be named NNNN_lower_snake_name.sql`);
    }
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) {
      throw new Error(`two migration files share version ${match[1]}`);
    }
    const sql = await readFile(join(directory, file), 'utf8');
    const checksum = createHash('sha256').update(sql).digest('hex');
    migrations.push({ version, name: match[2], sql, checksum });
  }
  return migrations;
}
