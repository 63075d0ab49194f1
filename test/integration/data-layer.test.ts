import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { DomainError } from '../../src/domain/errors.js';
import { runMigrations } from '../../src/adapters/postgres/migrations.js';
import type { Postgres } from '../../src/adapters/postgres/pool.js';
import { createRedisConnection } from '../../src/adapters/redis/client.js';
import { PostgresTestSchema } from '../contract/support/postgres.js';
import { REDIS_URL, DEAD_REDIS_URL, RedisTestContext } from '../contract/support/redis.js';
import {
  captureLogger,
  eventually,
  metricValue,
  silentLogger,
  sleep,
} from '../unit/adapters/support/observability.js';

const isUnavailablePostgres = (error: unknown): boolean =>
  error instanceof DomainError && error.code === 'unavailable' && error.dependency === 'postgres';

describe('postgres pool against a real server', () => {
  const pg = new PostgresTestSchema();
  let db: Postgres;
  let registry: Registry;

  before(async () => {
    registry = new Registry();
    db = pg.create({ registry });
    await runMigrations({ pool: db.pool, logger: silentLogger(), schema: pg.schema });
  });
  after(() => pg.cleanup());

  test('replaces connections killed by pg_terminate_backend and reports postgres up again', async () => {
    await Promise.all([1, 2, 3].map(() => db.query('SELECT pg_sleep(0.02)')));

    const killed = await pg.terminateConnections();
    await eventually(() => db.pool.totalCount === 0, { what: 'the pool to drop dead clients' });
    const results = await Promise.all([1, 2, 3].map(() => db.query('SELECT 1 AS one')));

    assert.ok(killed >= 1, `killed ${killed}`);
    assert.ok(results.every((r) => r.rows[0]?.one === 1));
    assert.equal(await db.checkHealth(), true);
    assert.equal(await metricValue(registry, 'dependency_up', { dependency: 'postgres' }), 1);
  });

  test('an idempotent read issued right after the kill still succeeds', async () => {
    await db.query('SELECT 1');
    await pg.terminateConnections();

    const result = await db.query<{ n: number }>('SELECT 2 AS n', [], { idempotent: true });

    assert.equal(result.rows[0]?.n, 2);
  });

  test('a statement killed mid-flight answers unavailable naming postgres', async () => {
    const rejected = assert.rejects(db.query('SELECT pg_sleep(5)'), isUnavailablePostgres);

    await eventually(async () => (await pg.terminateConnections()) > 0, {
      what: 'the statement to start',
    });

    await rejected;
  });

  test('rolls a transaction back when its body throws', async () => {
    await assert.rejects(
      db.withTransaction(async (tx) => {
        await tx.query(`INSERT INTO users (username, password_hash) VALUES ('rollback', 'h')`);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );

    const { rows } = await db.query(`SELECT 1 FROM users WHERE username = 'rollback'`);
    assert.equal(rows.length, 0);
  });

  test('passes constraint violations through unchanged without tripping the breaker', async () => {
    const insert = () =>
      db.query(`INSERT INTO users (username, password_hash) VALUES ('Dup', 'h')`);
    await insert();

    for (let i = 0; i < 6; i++) await assert.rejects(insert(), { code: '23505' });

    assert.equal(db.policy.state(), 'closed');
  });

  test('reports pool connections and the time to acquire one', async () => {
    await db.query('SELECT 1');

    const total = await metricValue(registry, 'db_pool_connections', { state: 'total' });
    const idle = await metricValue(registry, 'db_pool_connections', { state: 'idle' });
    const waiting = await metricValue(registry, 'db_pool_connections', { state: 'waiting' });
    const acquired = await metricValue(
      registry,
      'db_pool_acquire_seconds',
      {},
      'db_pool_acquire_seconds_count',
    );

    assert.ok((total ?? 0) >= 1);
    assert.equal(idle, total);
    assert.equal(waiting, 0);
    assert.ok((acquired ?? 0) >= 1);
  });
});

describe('postgres connection settings', () => {
  const pg = new PostgresTestSchema();
  after(() => pg.cleanup());

  test('every connection gets the statement timeout, search_path and application name', async () => {
    const db = pg.create({ statementTimeoutMs: 1234 });

    const { rows } = await db.query<{ timeout: string; path: string; app: string }>(
      `SELECT current_setting('statement_timeout') AS timeout,
              current_setting('search_path') AS path,
              current_setting('application_name') AS app`,
    );

    assert.deepEqual(rows[0], { timeout: '1234ms', path: pg.schema, app: pg.applicationName });
  });

  test('a statement over statement_timeout answers unavailable naming postgres', async () => {
    const db = pg.create({ statementTimeoutMs: 50 });

    await assert.rejects(db.query('SELECT pg_sleep(1)'), isUnavailablePostgres);
  });

  test('runs a transaction at the isolation level asked for', async () => {
    const db = pg.create();

    const level = await db.withTransaction(
      async (tx) =>
        (
          await tx.query<{ level: string }>(
            "SELECT current_setting('transaction_isolation') AS level",
          )
        ).rows[0]?.level,
      { isolation: 'serializable' },
    );

    assert.equal(level, 'serializable');
  });
});

describe('postgres transaction deadline', () => {
  const pg = new PostgresTestSchema();
  let db: Postgres;

  before(async () => {
    db = pg.create({
      resilience: { timeoutMs: 200, breaker: { threshold: 5, halfOpenAfterMs: 60_000 } },
    });
    await runMigrations({ pool: db.pool, logger: silentLogger(), schema: pg.schema });
  });
  after(() => pg.cleanup());

  test('a transaction past its deadline is rolled back and its connection discarded', async () => {
    await assert.rejects(
      db.withTransaction(async (tx) => {
        await tx.query(`INSERT INTO users (username, password_hash) VALUES ('slow', 'h')`);
        await tx.query('SELECT pg_sleep(2)');
      }),
      (error: unknown) => isUnavailablePostgres(error) && String(error).includes('within 200 ms'),
    );

    await eventually(async () => {
      const { rows } = await db.query(`SELECT 1 FROM users WHERE username = 'slow'`);
      return rows.length === 0;
    });
    assert.equal(db.pool.waitingCount, 0);
  });
});

describe('postgres unreachable', () => {
  test('opens the breaker and answers unavailable naming postgres', async () => {
    const registry = new Registry();
    const pg = new PostgresTestSchema();
    const db = pg.create({
      connectionString: 'postgresql://postgres@127.0.0.1:1/test',
      registry,
      resilience: { timeoutMs: 1000, breaker: { threshold: 2, halfOpenAfterMs: 60_000 } },
    });
    try {
      assert.equal(await db.checkHealth(), false);
      await assert.rejects(db.query('SELECT 1'), isUnavailablePostgres);

      await assert.rejects(db.query('SELECT 1'), (error: unknown) => {
        assert.ok(isUnavailablePostgres(error));
        assert.match(String(error), /postgres is unavailable \(circuit open\); retry in ~60s/);
        return true;
      });
      assert.equal(db.policy.state(), 'open');
      assert.equal(
        await metricValue(registry, 'circuit_breaker_state', { dependency: 'postgres' }),
        2,
      );
      assert.equal(await metricValue(registry, 'dependency_up', { dependency: 'postgres' }), 0);
    } finally {
      await db.close();
    }
  });
});

describe('redis connection against a real server', () => {
  const redis = new RedisTestContext();
  const admin = new Redis(REDIS_URL);
  after(async () => {
    await redis.cleanup();
    await admin.quit();
  });

  test('reconnects after CLIENT KILL: redis_connection_up goes 0 then back to 1', async () => {
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    // A fixed 200 ms reconnect delay leaves time to observe the "down" state.
    const connection = createRedisConnection({
      url: REDIS_URL,
      keyPrefix: redis.prefix,
      reconnect: { initialDelayMs: 200, maxDelayMs: 200 },
      random: () => 1,
      logger,
      registry,
    });
    try {
      await connection.waitUntilReady(5000);
      const before = await metricValue(registry, 'redis_connection_up');
      const id = await connection.client.client('ID');
      const closed = once(connection.client, 'close');

      await admin.client('KILL', 'ID', String(id));
      await closed;
      const during = await metricValue(registry, 'redis_connection_up');
      const dependencyDuring = await metricValue(registry, 'dependency_up', {
        dependency: 'redis',
      });
      await connection.waitUntilReady(5000);

      assert.deepEqual([before, during, dependencyDuring], [1, 0, 0]);
      assert.equal(await metricValue(registry, 'redis_connection_up'), 1);
      assert.equal(await connection.client.set('after-kill', '1'), 'OK');
      assert.deepEqual(
        lines
          .filter((l) => ['redis connected', 'redis disconnected; reconnecting'].includes(l.msg))
          .map((l) => [l.msg, l.reconnected]),
        [
          ['redis connected', false],
          ['redis disconnected; reconnecting', undefined],
          ['redis connected', true],
        ],
      );
    } finally {
      await connection.close();
    }
  });

  test('a close of its own is logged as closed, not as a disconnection that reconnects', async () => {
    const { logger, lines } = captureLogger();
    const connection = createRedisConnection({
      url: REDIS_URL,
      keyPrefix: redis.prefix,
      logger,
      registry: new Registry(),
    });
    await connection.waitUntilReady(5000);

    await connection.close();

    assert.deepEqual(
      lines.filter((l) => l.msg.startsWith('redis ')).map((l) => [l.level, l.msg]),
      [
        [30, 'redis connected'],
        [30, 'redis connection closed'],
      ],
    );
  });

  test('logs a connection error once per outage, not once per reconnect attempt', async () => {
    const { logger, lines } = captureLogger();
    const connection = createRedisConnection({
      url: DEAD_REDIS_URL,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
      logger,
      registry: new Registry(),
    });
    try {
      await sleep(300);

      assert.equal(lines.filter((l) => l.msg === 'redis connection error').length, 1);
      assert.ok(lines.filter((l) => l.msg === 'redis reconnecting').length > 3);
      assert.equal(connection.isUp(), false);
    } finally {
      await connection.close();
    }
  });

  test('fails fast instead of queueing commands while disconnected', async () => {
    const connection = createRedisConnection({
      url: DEAD_REDIS_URL,
      logger: silentLogger(),
      registry: new Registry(),
    });
    try {
      const started = performance.now();
      await assert.rejects(connection.client.get('k'));
      assert.ok(performance.now() - started < 100);
    } finally {
      await connection.close();
    }
  });
});
