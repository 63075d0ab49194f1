import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { AccountService } from '../../src/gen/trading/v1/account_pb.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { SessionService } from '../../src/gen/trading/v1/session_pb.js';
import { startTestApp, TEST_REDIS_URL, uniqueName, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { subscribe } from '../support/stream-client.js';
import { WsClient } from '../support/ws-client.js';

/**
 * A logout or a reused refresh token revokes the session's access tokens on every pod within
 * the poll interval: unary calls get UNAUTHENTICATED, open private streams end with it.
 * Two app instances share PostgreSQL and Redis as two pods do.
 */

const POLL_MS = 200;
const PASSWORD = 'correct horse battery staple';

interface Tokens {
  readonly accessToken: string;
  readonly refreshToken: string;
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

describe('revoked sessions across pods', () => {
  let podA: TestApp;
  let podB: TestApp;
  let authA: Client;
  let accountsB: Client;
  let sessionB: Client;
  let ordersB: Client;

  before(async () => {
    const shared = { REDIS_URL: TEST_REDIS_URL, AUTH_REVOCATION_POLL_MS: String(POLL_MS) };
    podA = await startTestApp(shared);
    podB = await startTestApp({
      ...shared,
      PG_SCHEMA: podA.config.postgres.schema ?? '',
      REDIS_KEY_PREFIX: podA.config.redis.keyPrefix,
      POD_NAME: 'test-pod-b',
    });
    authA = grpcClient(podA.grpcAddress, AuthService);
    accountsB = grpcClient(podB.grpcAddress, AccountService);
    sessionB = grpcClient(podB.grpcAddress, SessionService);
    ordersB = grpcClient(podB.grpcAddress, OrderService);
  });
  after(async () => {
    for (const client of [authA, accountsB, sessionB, ordersB]) client.close();
    await podB.stop();
    await podA.stop();
  });

  async function login(): Promise<Tokens> {
    const credentials = { username: uniqueName('rev'), password: PASSWORD };
    await unary(authA, 'register', credentials);
    const { response } = await unary<{ tokens: Tokens }>(authA, 'login', credentials);
    assert.ok(response);
    return response.tokens;
  }

  const balancesOnB = (tokens: Tokens) =>
    unary(accountsB, 'getBalances', {}, bearer(tokens.accessToken));

  async function refusedWithin(tokens: Tokens, ms: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const { error } = await balancesOnB(tokens);
      if (error?.code === status.UNAUTHENTICATED) {
        assert.match(error.details, /session of this access token was ended/);
        return Date.now() - started;
      }
      assert.ok(Date.now() - started < ms, `still accepted after ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('after a logout on one pod, its access token is refused on another within the poll interval', async () => {
    const tokens = await login();
    assert.equal((await balancesOnB(tokens)).error, null);

    const { error } = await unary(authA, 'logout', { refreshToken: tokens.refreshToken });
    assert.equal(error, null);

    await refusedWithin(tokens, POLL_MS * 5);
    // Another session of the same user is untouched.
    assert.equal((await balancesOnB(await login())).error, null);
  });

  test('a reused refresh token revokes the access tokens of its session', async () => {
    const tokens = await login();
    const first = await unary<{ tokens: Tokens }>(authA, 'refresh', {
      refreshToken: tokens.refreshToken,
    });
    assert.ok(first.response);
    assert.equal((await balancesOnB(first.response.tokens)).error, null);

    const reuse = await unary(authA, 'refresh', { refreshToken: tokens.refreshToken });
    assert.equal(reuse.error?.code, status.UNAUTHENTICATED);

    await refusedWithin(first.response.tokens, POLL_MS * 5);
  });

  test('an open private stream on another pod ends with UNAUTHENTICATED at logout', async () => {
    const tokens = await login();
    const stream = subscribe(sessionB, 'openStream', {}, bearer(tokens.accessToken));
    await stream.until(() => stream.messages.length > 0, 'the stream to start');

    await unary(authA, 'logout', { refreshToken: tokens.refreshToken });

    await stream
      .until(() => stream.error !== undefined || stream.ended, 'the stream to end', POLL_MS * 10)
      .catch(() => undefined);
    assert.equal(stream.error?.code, status.UNAUTHENTICATED);
  });

  test('an open /ws private stream on another pod closes 4401 at logout, saying why', async () => {
    const tokens = await login();
    const ws = await WsClient.connect(podB.httpUrl);
    ws.send({ frame: { case: 'authenticate', value: { accessToken: tokens.accessToken } } });
    ws.send({ frame: { case: 'openStream', value: {} } });
    await ws.until(() => ws.user().length > 0, 'the private stream to start');

    await unary(authA, 'logout', { refreshToken: tokens.refreshToken });

    const closed = await ws.closedWith(POLL_MS * 10);
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /session .*ended|log in again/);
  });

  test('an open order-entry stream on another pod ends with UNAUTHENTICATED at its next command', async () => {
    const tokens = await login();
    const open = (
      ordersB as unknown as Record<string, (m: Metadata) => ClientDuplexStream<unknown, unknown>>
    ).orderEntry;
    assert.ok(open);
    const call = open.call(ordersB, bearer(tokens.accessToken));
    const answers: unknown[] = [];
    call.on('data', (answer: unknown) => answers.push(answer));
    call.on('error', () => undefined); // the status says it
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    const place = (n: number) => ({
      requestId: BigInt(n),
      command: { case: 'place', value: placeRequest(`rev-${n}`) },
    });
    call.write(place(1));
    while (answers.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));

    await unary(authA, 'logout', { refreshToken: tokens.refreshToken });
    await refusedWithin(tokens, POLL_MS * 5);
    call.write(place(2));

    const { code, details } = await ended;
    assert.equal(code, status.UNAUTHENTICATED, details);
    assert.equal(answers.length, 1);
  });
});
