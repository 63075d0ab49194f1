import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { assertNotCluster, createRedisConnection } from '../../src/adapters/redis/index.js';
import { RedisStreamLog } from '../../src/adapters/stream-log/stream-log.redis.js';
import { loadConfig } from '../../src/config/index.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { openDataLayer } from '../../src/wiring/data-layer.js';
import { dropSchema, LogCapture, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { REDIS_URL } from '../contract/support/redis.js';

/**
 * The platform runs on one Redis (standalone, a primary with replicas, or Sentinel), not on
 * Redis Cluster: the outbox relay appends to many streams in one script (every key it touches
 * is in KEYS, but they hash to different slots) and the tail reads them all in one XREAD. A
 * real Redis in cluster mode, one node holding every slot, shows what Cluster would answer, and
 * that start-up refuses it with a message saying so.
 */

const installed = spawnSync('redis-server', ['--version']).status === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

describe('on a Redis Cluster node', { skip: !installed && 'redis-server is not installed' }, () => {
  let node: ChildProcess;
  let dir: string;
  let url: string;

  before(async () => {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
    node = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        ...['--save', '', '--appendonly', 'no'],
      ],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    // Queued until the server listens, retried every 50 ms.
    const admin = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: null });
    try {
      await admin.ping();
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      admin.disconnect();
    }
  });

  after(() => {
    node.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a relay pass over two streams is refused (CROSSSLOT), one stream's is not", async () => {
    const connection = createRedisConnection({
      url,
      logger: new LogCapture().logger('silent'),
      registry: new Registry(),
    });
    try {
      await connection.waitUntilReady(5_000);
      const log = new RedisStreamLog({ redis: connection.client, policy: connection.policy });
      try {
        assert.equal(await log.append([{ stream: 'book.BTC-USD', seq: 1, payload: '{}' }]), 1);
        await assert.rejects(
          log.append([
            { stream: 'book.BTC-USD', seq: 2, payload: '{}' },
            { stream: 'trades.BTC-USD', seq: 1, payload: '{}' },
          ]),
          /CROSSSLOT/,
        );
      } finally {
        await log.close();
      }
    } finally {
      await connection.close();
    }
  });

  test('a Cluster node is refused at once, with what to use instead; one Redis is not', async () => {
    for (const [target, refused] of [
      [url, true],
      [REDIS_URL, false],
    ] as const) {
      const client = new Redis(target);
      try {
        if (refused) {
          await assert.rejects(
            assertNotCluster(client),
            /REDIS_URL points at a Redis Cluster node.*use a standalone Redis, a primary with replicas, or Sentinel/,
          );
        } else {
          await assertNotCluster(client);
        }
      } finally {
        client.disconnect();
      }
    }
  });

  test('start-up stops on a Cluster node before serving, its connections closed', async () => {
    const schema = uniqueName('cluster');
    const config = loadConfig({
      DATABASE_URL: TEST_DATABASE_URL,
      PG_SCHEMA: schema,
      PG_POOL_MAX: '2',
      REDIS_URL: url,
    });
    try {
      await assert.rejects(
        openDataLayer(config, {
          logger: new LogCapture().logger('silent'),
          registry: new Registry(),
          readiness: new Readiness(),
        }),
        /Redis Cluster/,
      );
    } finally {
      await dropSchema(TEST_DATABASE_URL, schema);
    }
  });
});
