import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status, type Client } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const proxy = new TcpProxy('127.0.0.1', 5432);
let app: TestApp;
let auth: Client;

before(async () => {
  await proxy.start();
  app = await startTestApp({
    DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
    PG_CONNECT_TIMEOUT_MS: '500',
    PG_QUERY_TIMEOUT_MS: '1000',
  });
  auth = grpcClient(app.grpcAddress, AuthService);
});

after(async () => {
  auth.close();
  await proxy.restore().catch(() => undefined);
  await app.stop();
  await proxy.cut();
});

const register = (username: string) =>
  unary(auth, 'register', { username, password: 'long enough password' });

test('when PostgreSQL goes away the breaker opens, calls fail fast with UNAVAILABLE naming it, and it recovers', async () => {
  assert.equal((await register('before-outage')).error, null);

  await proxy.cut();
  // Consecutive failures open the breaker (threshold 5); each fails as UNAVAILABLE.
  let last;
  for (let i = 0; i < 8; i += 1) {
    last = (await register(`during-outage-${i}`)).error;
    assert.equal(last?.code, status.UNAVAILABLE, last?.details);
  }
  assert.match(last?.details ?? '', /^postgres is unavailable \(circuit open\); retry in ~\d+s$/);
  assert.ok(Number(last?.metadata.get('retry-after-ms')[0]) > 0);

  const text = await app.registry.metrics();
  assert.equal(sample(text, 'circuit_breaker_state', { dependency: 'postgres' }), 2);
  const readyz = (await (await fetch(`${app.httpUrl}/readyz`)).json()) as {
    status: string;
    degraded: { name: string }[];
  };
  assert.equal(readyz.status, 'ready', 'a shared dependency outage does not fail readiness');
  assert.deepEqual(
    readyz.degraded.map((d) => d.name),
    ['postgres'],
  );
  assert.ok(app.logs.find('circuit breaker state changed', { to: 'open' }));

  await proxy.restore();
  // After the half-open delay one trial call goes through and closes the breaker.
  let recovered = false;
  for (let i = 0; i < 40 && !recovered; i += 1) {
    await sleep(250);
    recovered = (await register(`after-outage-${i}`)).error === null;
  }
  assert.ok(recovered, 'calls succeed again once PostgreSQL is back');
  assert.equal(
    sample(await app.registry.metrics(), 'circuit_breaker_state', { dependency: 'postgres' }),
    0,
  );
});

test('when Redis goes away, calls fail open, logins and registrations fail closed, visibly', async () => {
  const redisProxy = new TcpProxy('127.0.0.1', 6379);
  await redisProxy.start();
  const redisApp = await startTestApp({
    REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
    REDIS_COMMAND_TIMEOUT_MS: '300',
  });
  const client = grpcClient(redisApp.grpcAddress, AuthService);
  const orders = grpcClient(redisApp.grpcAddress, OrderService);
  try {
    const credentials = { username: 'redis-outage', password: 'long enough password' };
    await unary(client, 'register', credentials);
    const { response } = await unary<{ tokens: { accessToken: string } }>(
      client,
      'login',
      credentials,
    );
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${response?.tokens.accessToken ?? ''}`);

    await redisProxy.cut();

    const call = await unary(orders, 'getOrder', { orderId: '1' }, metadata);
    assert.equal(call.error?.code, status.NOT_FOUND, 'allowed through: the user limit fails open');
    const login = await unary(client, 'login', credentials);
    assert.equal(login.error?.code, status.UNAVAILABLE, 'refused: the login limit fails closed');
    assert.match(login.error.details, /^rate limiting is unavailable/);
    const register = await unary(client, 'register', { ...credentials, username: 'new-user' });
    assert.equal(register.error?.code, status.UNAVAILABLE, 'registration fails closed too');
    assert.match(register.error.details, /^rate limiting is unavailable/);

    const text = await redisApp.registry.metrics();
    assert.ok((sample(text, 'rate_limit_fail_open_total', { scope: 'user' }) ?? 0) >= 1);
    assert.ok(redisApp.logs.find('rate limiter unavailable; failing open'));
    assert.ok(redisApp.logs.find('rate limiter unavailable; failing closed'));
    const readyz = (await (await fetch(`${redisApp.httpUrl}/readyz`)).json()) as {
      degraded: { name: string }[];
    };
    assert.ok(readyz.degraded.some((d) => d.name === 'redis'));
  } finally {
    client.close();
    orders.close();
    await redisProxy.restore();
    await redisApp.stop();
    await redisProxy.cut();
  }
});
