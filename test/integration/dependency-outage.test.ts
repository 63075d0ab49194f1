import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type Client } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
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
