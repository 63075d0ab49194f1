import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import {
  dropRedisKeys,
  dropSchema,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueName,
} from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { spawnApp, type AppProcess } from '../support/process.js';

const credentials = { username: 'zoe', password: 'long enough password' };
const fastHashing = { AUTH_ARGON2_MEMORY_KIB: '1024', AUTH_ARGON2_TIME_COST: '1' };

interface LoginResponse {
  userId: string;
  tokens: { accessToken: string };
}

async function registerAndLogin(app: AppProcess): Promise<LoginResponse> {
  const auth = grpcClient(app.grpcAddress, AuthService);
  try {
    await unary(auth, 'register', credentials);
    const { error, response } = await unary<LoginResponse>(auth, 'login', credentials);
    assert.equal(error, null);
    return response!;
  } finally {
    auth.close();
  }
}

test('the embedded default keeps users and signing keys across a restart', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-embedded-'));
  try {
    const env = { DATA_DIR: dataDir, SHUTDOWN_DRAIN_DELAY_MS: '0', ...fastHashing };
    const first = await spawnApp(env);
    // A first start runs initdb inside PGlite: allow for a slow, busy machine.
    await first.waitForLog('app started', 90_000);
    assert.ok(
      first.lines.some((l) => l.msg === 'postgres: using embedded PGlite (DATABASE_URL unset)'),
    );
    const before = await registerAndLogin(first);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = await spawnApp(env);
    try {
      await second.waitForLog('app started', 90_000);
      const auth = grpcClient(second.grpcAddress, AuthService);
      const { error, response } = await unary<LoginResponse>(auth, 'login', credentials);
      auth.close();
      assert.equal(error, null, 'the user survived the restart');
      assert.equal(response?.userId, before.userId);

      const session = await fetch(`${second.httpUrl}/v1/session`, {
        headers: { authorization: `Bearer ${before.tokens.accessToken}` },
      });
      assert.equal(session.status, 200, 'a token issued before the restart still verifies');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('two server processes share one per-user rate limit through Redis', async () => {
  const schema = uniqueName('procs');
  const env = {
    DATABASE_URL: TEST_DATABASE_URL,
    PG_SCHEMA: schema,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `${schema}:`,
    USER_RATE_BURST: '4',
    USER_RATE_PER_S: '1',
    USER_RATE_METHOD_COSTS: '',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    ...fastHashing,
  };
  const apps = [await spawnApp(env), await spawnApp(env)];
  try {
    await Promise.all(apps.map((app) => app.waitForLog('app started')));
    const { tokens } = await registerAndLogin(apps[0]!);
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${tokens.accessToken}`);
    const clients = apps.map((app) => grpcClient(app.grpcAddress, OrderService));

    const codes: status[] = [];
    for (let i = 0; i < 8; i += 1) {
      const { error } = await unary(clients[i % 2]!, 'getOrder', { orderId: '1' }, metadata);
      codes.push(error?.code ?? status.OK);
    }
    for (const client of clients) client.close();
    const limited = codes.filter((code) => code === status.RESOURCE_EXHAUSTED).length;
    assert.equal(
      limited,
      4,
      `a burst of 4 between both processes, not 8; codes ${codes.join(',')}`,
    );
  } finally {
    for (const app of apps) app.child.kill('SIGTERM');
    await Promise.all(apps.map((app) => app.exited));
    await dropSchema(TEST_DATABASE_URL, schema);
    await dropRedisKeys(`${schema}:`);
  }
});
