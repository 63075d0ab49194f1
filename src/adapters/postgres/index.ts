export { createPostgres, DEFAULT_POSTGRES_RESILIENCE } from './pool.js';
export type {
  IsolationLevel,
  Postgres,
  PostgresOptions,
  PostgresResilienceOptions,
  Queryable,
  TransactionOptions,
} from './pool.js';
export { runMigrations } from './migrations.js';
export type { MigrationOptions, MigrationResult } from './migrations.js';
export { DEFAULT_MIGRATIONS_DIRECTORY, loadMigrations } from './migration-files.js';
export type { Migration } from './migration-files.js';
export { MEMORY_DATA_DIR, startEmbeddedPostgres } from './embedded.js';
export type { EmbeddedPostgres, EmbeddedPostgresOptions } from './embedded.js';
export { isPostgresFailure, sqlStateOf } from './pg-errors.js';
