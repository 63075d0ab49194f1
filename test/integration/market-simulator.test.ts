import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresUserRepository } from '../../src/adapters/auth/user.repository.postgres.js';
import { createPostgres, type Postgres } from '../../src/adapters/postgres/index.js';
import { createMetricsRegistry } from '../../src/telemetry/index.js';
import { BOT_PASSWORD_HASH, PostgresBotAccounts } from '../../src/tools/bot-accounts.postgres.js';
import { sample, startTestApp, TEST_DATABASE_URL, type TestApp } from '../support/app.js';

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(100);
  }
}

describe('the market simulator in a running app (real PostgreSQL)', () => {
  let app: TestApp;
  let db: Postgres;

  before(async () => {
    app = await startTestApp({
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_RATE: '200',
      SIMULATOR_BOTS: '3',
    });
    db = createPostgres({
      connectionString: TEST_DATABASE_URL,
      schema: app.config.postgres.schema,
      max: 2,
      healthCheckIntervalMs: 0,
      logger: app.logs.logger('silent'),
      registry: createMetricsRegistry({ version: 't', role: 'test' }),
    });
  });
  after(async () => {
    await db.close();
    await app.stop();
  });

  const restingBotOrders = async () => {
    const { rows } = await db.query<{ username: string; side: string; n: number }>(
      `SELECT u.username, o.side, count(*)::int AS n FROM orders o JOIN users u ON u.id = o.user_id
       WHERE u.username LIKE 'sim-bot-%' AND o.status IN ('new', 'partially_filled')
       GROUP BY u.username, o.side`,
    );
    return rows;
  };

  test('bots trade with each other and keep orders resting on both sides', async () => {
    const trades = await eventually('a trade', async () => {
      const metrics = await fetch(`${app.httpUrl}/metrics`).then((r) => r.text());
      const count = sample(metrics, 'trades_total', { symbol: 'BTC-USD' }) ?? 0;
      return count > 0 ? count : undefined;
    });
    const resting = await eventually('resting bids and asks', async () => {
      const rows = await restingBotOrders();
      const sides = new Set(rows.map((r) => r.side));
      return sides.has('buy') && sides.has('sell') ? rows : undefined;
    });

    assert.ok(trades > 0);
    const perBot = new Map<string, number>();
    for (const row of resting) perBot.set(row.username, (perBot.get(row.username) ?? 0) + row.n);
    // Well below the open-order quota of 200.
    for (const [bot, count] of perBot) assert.ok(count <= 20, `${bot} rests ${count} orders`);
    const metrics = await app.registry.metrics();
    assert.ok(
      (sample(metrics, 'simulator_orders_total', { action: 'place', result: 'ok' }) ?? 0) > 0,
    );
    assert.equal(sample(metrics, 'simulator_running', {}), 1);
    const started = app.logs.find('market simulator started');
    assert.ok(started);
    assert.equal(started.seed, 42);
    assert.equal(started.bots, 3);
  });

  test('bots are users nobody can log in as', async () => {
    const { rows } = await db.query<{ username: string; password_hash: string }>(
      `SELECT username, password_hash FROM users WHERE username LIKE 'sim-bot-%' ORDER BY username`,
    );

    assert.deepEqual(
      rows.map((r) => r.username),
      ['sim-bot-1', 'sim-bot-2', 'sim-bot-3'],
    );
    for (const row of rows) assert.equal(row.password_hash, BOT_PASSWORD_HASH);
  });

  test('creates a bot once and raises a drained balance back to its target', async () => {
    const accounts = new PostgresBotAccounts(
      { postgres: db, users: new PostgresUserRepository(db) },
      [
        { asset: 'USD', amount: 1_000_000n },
        { asset: 'ETH', amount: 500n },
      ],
    );

    const [first] = await accounts.ensure(['sim-bot-99']);
    const [again] = await accounts.ensure(['sim-bot-99']);
    assert.ok(first);
    assert.deepEqual(again, first);
    await db.query(`UPDATE balances SET available = 10 WHERE user_id = $1 AND asset = 'USD'`, [
      first.userId,
    ]);
    await db.query(`DELETE FROM balances WHERE user_id = $1 AND asset = 'ETH'`, [first.userId]);

    const raised = await accounts.topUp([first]);
    const nothing = await accounts.topUp([first]);

    assert.deepEqual(raised.map((t) => [t.asset, t.amount]).sort(), [
      ['ETH', 500n],
      ['USD', 1_000_000n],
    ]);
    assert.deepEqual(nothing, []);
  });

  test('leaves a person who took a bot name alone', async () => {
    const users = new PostgresUserRepository(db);
    await users.create({ username: 'sim-bot-77', passwordHash: 'argon2-hash', demoBalances: {} });
    const accounts = new PostgresBotAccounts({ postgres: db, users }, []);

    assert.deepEqual(await accounts.ensure(['sim-bot-77']), []);
  });

  test('shutdown stops the bots before the shards drain, and exits cleanly', async () => {
    const code = await app.shutdown.run('test finished');

    assert.equal(code, 0);
    const lines = app.logs.lines;
    const stoppedAt = lines.findIndex((l) => l.msg === 'market simulator stopped');
    assert.ok(stoppedAt >= 0);
    const lastBatch = lines.findLastIndex((l) => l.msg === 'engine batch committed');
    assert.ok(lastBatch >= 0, 'no batch was logged: the order below would hold vacuously');
    assert.ok(lastBatch < stoppedAt, 'a batch committed after the simulator had stopped');
    assert.equal(
      lines.some((l) => l.level === 'error' || l.level === 'fatal'),
      false,
      'an error was logged',
    );
    assert.equal(sample(await app.registry.metrics(), 'simulator_running', {}), 0);
  });
});

describe('the market simulator on embedded PostgreSQL (PGlite), across a restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'simulator-'));
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });
  const start = () =>
    startTestApp({
      DATABASE_URL: '',
      PG_SCHEMA: '',
      DATA_DIR: dataDir,
      SIMULATOR_ENABLED: 'true',
      SIMULATOR_RATE: '100',
    });
  const metric = async (app: TestApp, name: string, labels: Record<string, string>) =>
    sample(await app.registry.metrics(), name, labels) ?? 0;
  /** Exit code 0, or the failure names the shutdown steps that failed or ran late. */
  const stopCleanly = async (app: TestApp) => {
    const code = await app.stop();
    const errors = app.logs.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
    assert.equal(code, 0, `shutdown errors: ${JSON.stringify(errors)}`);
  };

  test('a restart cancels what the bots left resting and never replays an earlier run', async () => {
    const first = await start();
    try {
      await eventually('a trade', async () =>
        (await metric(first, 'trades_total', { symbol: 'BTC-USD' })) > 0 ? true : undefined,
      );
    } finally {
      await stopCleanly(first);
    }

    const second = await start();
    try {
      const canceled = await eventually('the stale orders canceled', () =>
        Promise.resolve(second.logs.find('market simulator canceled stale orders')),
      );
      await eventually('a new placement', async () =>
        (await metric(second, 'simulator_orders_total', { action: 'place', result: 'ok' })) > 0
          ? true
          : undefined,
      );

      assert.ok(Number(canceled.orders) > 0);
      for (const side of ['buy', 'sell']) {
        const replayed = { side, type: 'limit', result: 'replayed' };
        assert.equal(await metric(second, 'orders_total', replayed), 0);
      }
    } finally {
      await stopCleanly(second);
    }
  });
});
