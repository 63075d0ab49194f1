import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Registry } from 'prom-client';
import { createPostgres } from '../../../src/adapters/postgres/pool.js';
import type { Postgres, PostgresOptions } from '../../../src/adapters/postgres/pool.js';
import { silentLogger } from '../../unit/adapters/support/observability.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/**
 * PostgreSQL for one test file: a schema of its own (dropped at the end) and an
 * application_name of its own, so that killing "our" connections never touches another suite's.
 */
export class PostgresTestSchema {
  readonly schema = `t_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  readonly applicationName = `test-${this.schema}`;
  readonly #databases: Postgres[] = [];

  create(overrides: Partial<PostgresOptions> = {}): Postgres {
    const db = createPostgres({
      connectionString: DATABASE_URL,
      schema: this.schema,
      applicationName: this.applicationName,
      max: 3,
      healthCheckIntervalMs: 0,
      logger: silentLogger(),
      registry: new Registry(),
      ...overrides,
    });
    this.#databases.push(db);
    return db;
  }

  /** pg_terminate_backend on every connection of this schema's pools; resolves to how many. */
  async terminateConnections(): Promise<number> {
    return this.#admin(async (client) => {
      // Two statements on purpose: in one WHERE clause the planner may call
      // pg_terminate_backend before the filters, on every backend of the server.
      const { rows } = await client.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [this.applicationName],
      );
      const pids = rows.map((row) => row.pid);
      if (pids.length === 0) return 0;
      const result = await client.query<{ terminated: boolean }>(
        'SELECT pg_terminate_backend(pid) AS terminated FROM unnest($1::int[]) AS pid',
        [pids],
      );
      return result.rows.filter((row) => row.terminated).length;
    });
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.#databases.map((db) => db.close()));
    await this.#admin((client) => client.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`));
  }

  async #admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }
}
