import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status, type Client } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { SessionService, type OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import {
  dropRedisKeys,
  sample,
  startTestApp,
  TEST_REDIS_URL,
  type TestApp,
} from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { subscribe } from '../support/stream-client.js';

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

/** Seconds-resolution `exp` of a JWT, in ms. */
const expiryOf = (token: string): number => {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    exp: number;
  };
  return payload.exp * 1_000;
};

/**
 * Access tokens live 2 s here. Two pods share Redis: the stream is served by one, the fresh
 * token is handed to the other (a unary call need not land where the stream is).
 */
describe('access-token expiry on long private streams', () => {
  let pod1: TestApp;
  let pod2: TestApp;
  const clients: Client[] = [];
  const client = (app: TestApp, service: typeof AuthService | typeof SessionService) => {
    const made = grpcClient(app.grpcAddress, service);
    clients.push(made);
    return made;
  };

  before(async () => {
    pod1 = await startTestApp({
      REDIS_URL: TEST_REDIS_URL,
      POD_NAME: 'pod-1',
      AUTH_ACCESS_TOKEN_TTL_S: '2',
    });
    pod2 = await startTestApp({
      REDIS_URL: TEST_REDIS_URL,
      ROLE: 'stream',
      POD_NAME: 'pod-2',
      PG_SCHEMA: pod1.config.postgres.schema ?? '',
      REDIS_KEY_PREFIX: pod1.config.redis.keyPrefix,
      AUTH_ACCESS_TOKEN_TTL_S: '2',
    });
  });
  after(async () => {
    for (const made of clients) made.close();
    await pod2.shutdown.run('test finished');
    await pod1.stop();
    await dropRedisKeys(pod1.config.redis.keyPrefix);
  });

  const signUp = async (username: string): Promise<Tokens> => {
    const auth = client(pod1, AuthService);
    const credentials = { username, password: 'correct horse battery staple' };
    await unary(auth, 'register', credentials);
    const login = await unary<{ tokens: Tokens }>(auth, 'login', credentials);
    assert.ok(login.response);
    return login.response.tokens;
  };

  const refresh = async (tokens: Tokens): Promise<Tokens> => {
    const refreshed = await unary<{ tokens: Tokens }>(client(pod1, AuthService), 'refresh', {
      refreshToken: tokens.refreshToken,
    });
    assert.ok(refreshed.response, String(refreshed.error));
    return refreshed.response.tokens;
  };

  const openStream = async (tokens: Tokens) => {
    const stream = subscribe<OpenStreamResponse>(
      client(pod2, SessionService),
      'openStream',
      {},
      bearer(tokens.accessToken),
    );
    await stream.until(() => stream.messages.length > 0, 'the start');
    return stream;
  };

  test('a stream whose token expires ends UNAUTHENTICATED, saying why and how to renew', async () => {
    const tokens = await signUp('expiring');
    const stream = await openStream(tokens);

    await stream.until(() => stream.error !== undefined, 'the end', 5_000);

    assert.equal(stream.error?.code, status.UNAUTHENTICATED);
    assert.match(stream.error.message, /access token of this stream expired/);
    assert.match(stream.error.message, /SessionService\/Reauthenticate/);
    assert.ok(Date.now() >= expiryOf(tokens.accessToken), 'not before the token expired');
    assert.equal(sample(await pod2.registry.metrics(), 'stream_token_expiries_total', {}), 1);
  });

  test('a fresh token handed to another pod with Reauthenticate keeps the stream open until it expires', async () => {
    const first = await signUp('renewing');
    const stream = await openStream(first);
    await sleep(1_100);
    const second = await refresh(first);
    assert.ok(expiryOf(second.accessToken) > expiryOf(first.accessToken));

    const renewed = await unary(
      client(pod1, SessionService),
      'reauthenticate',
      { sessionId: stream.messages[0]?.sessionId, accessToken: second.accessToken },
      bearer(second.accessToken),
    );
    assert.equal(renewed.error, null);
    await sleep(Math.max(0, expiryOf(first.accessToken) + 500 - Date.now()));
    assert.equal(stream.endedAt, undefined, 'still open after the first token expired');

    await stream.until(() => stream.error !== undefined, 'the end', 5_000);
    assert.equal(stream.error?.code, status.UNAUTHENTICATED);
    assert.ok(Date.now() >= expiryOf(second.accessToken));
    assert.equal(
      sample(await pod1.registry.metrics(), 'session_reauthentications_total', { result: 'ok' }),
      1,
    );
  });

  test("another user's token is PERMISSION_DENIED, an unknown session NOT_FOUND", async () => {
    const ann = await signUp('ann-reauth');
    const bob = await signUp('bob-reauth');
    const stream = await openStream(ann);
    const sessionId = stream.messages[0]?.sessionId;
    const sessions = client(pod1, SessionService);

    const denied = await unary(
      sessions,
      'reauthenticate',
      { sessionId, accessToken: bob.accessToken },
      bearer(bob.accessToken),
    );
    const mixed = await unary(
      sessions,
      'reauthenticate',
      { sessionId, accessToken: bob.accessToken },
      bearer(ann.accessToken),
    );
    const unknown = await unary(
      sessions,
      'reauthenticate',
      { sessionId: 'no-such-session', accessToken: ann.accessToken },
      bearer(ann.accessToken),
    );
    stream.call.cancel();

    assert.equal(denied.error?.code, status.PERMISSION_DENIED);
    assert.equal(mixed.error?.code, status.PERMISSION_DENIED);
    assert.equal(unknown.error?.code, status.NOT_FOUND);
    assert.match(unknown.error.details, /open the stream again/);
  });
});
