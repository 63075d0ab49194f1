import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Metadata, status, type Client } from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import pg from 'pg';
import { loadSigningKeys } from '../../src/adapters/auth/signing-keys.js';
import { AccessTokens } from '../../src/domain/auth/access-tokens.js';
import { AccountService } from '../../src/gen/trading/v1/account_pb.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import {
  sample,
  startTestApp,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueName,
  type TestApp,
} from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';

interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

const PASSWORD = 'correct horse battery';

async function countRows(app: TestApp, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${app.config.postgres.schema ?? 'public'}".${table}`,
    );
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

describe('AuthService over gRPC', () => {
  let app: TestApp;
  let auth: Client;
  let orders: Client;
  let accounts: Client;

  before(async () => {
    app = await startTestApp({ LOGIN_USER_IP_BURST: '3', LOGIN_USER_IP_PER_MIN: '1' });
    auth = grpcClient(app.grpcAddress, AuthService);
    orders = grpcClient(app.grpcAddress, OrderService);
    accounts = grpcClient(app.grpcAddress, AccountService);
  });

  after(async () => {
    auth.close();
    orders.close();
    accounts.close();
    await app.stop();
  });

  const register = (username: string, password = PASSWORD) =>
    unary<{ userId: string }>(auth, 'register', { username, password });
  const login = (username: string, password = PASSWORD) =>
    unary<{ userId: string; tokens: TokenPair }>(auth, 'login', { username, password });

  test('registers a user with a demo balance and logs them in', async () => {
    const registered = await register('alice');
    assert.equal(registered.error, null);
    assert.match(registered.response?.userId ?? '', /^\d+$/);

    const { error, response } = await login('ALICE');
    assert.equal(error, null);
    assert.equal(response?.userId, registered.response?.userId);
    assert.ok((response?.tokens.accessToken.split('.').length ?? 0) === 3, 'a JWT');
    assert.ok((response?.tokens.refreshToken.length ?? 0) >= 40);
    assert.equal(await countRows(app, 'balances'), 2);
  });

  test('rejects a taken username (case-insensitively) with ALREADY_EXISTS', async () => {
    await register('bob');
    const { error } = await register('BOB');
    assert.equal(error?.code, status.ALREADY_EXISTS);
    assert.equal(error.details, 'username "BOB" is taken');
  });

  test('rejects bad input with INVALID_ARGUMENT naming the field, and writes nothing', async () => {
    const before = await countRows(app, 'users');
    const cases = [
      [{ username: 'x', password: PASSWORD }, 'username'],
      [{ username: 'carol', password: 'short' }, 'password'],
      [{ username: 'carol', password: 'p'.repeat(257) }, 'password'],
      [{ username: 'a'.repeat(10_000), password: PASSWORD }, 'username'],
      [{ username: 'bad name!', password: PASSWORD }, 'username'],
    ] as const;
    for (const [request, field] of cases) {
      const { error } = await unary(auth, 'register', request);
      assert.equal(error?.code, status.INVALID_ARGUMENT, JSON.stringify(request).slice(0, 80));
      assert.ok(error.details.startsWith(`${field}: `), error.details);
      assert.equal(error.metadata.get('error-field')[0], field);
    }
    assert.equal(await countRows(app, 'users'), before);
  });

  test('an oversized request is refused before any handler runs, and writes nothing', async () => {
    const before = await countRows(app, 'users');
    const { error } = await register('x'.repeat(5 * 1024 * 1024));
    // gRPC's own limit (4 MiB by default) answers RESOURCE_EXHAUSTED, as every gRPC client expects.
    assert.equal(error?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(await countRows(app, 'users'), before);
  });

  test('a wrong password and an unknown user get the same UNAUTHENTICATED answer', async () => {
    await register('dave');
    const wrong = await login('dave', 'not the password at all');
    const unknown = await login('nobody-here', PASSWORD);
    assert.equal(wrong.error?.code, status.UNAUTHENTICATED);
    assert.equal(unknown.error?.code, status.UNAUTHENTICATED);
    assert.equal(wrong.error.details, 'username or password is incorrect');
    assert.equal(unknown.error.details, wrong.error.details);
    const text = await app.registry.metrics();
    assert.ok((sample(text, 'auth_logins_total', { result: 'invalid_credentials' }) ?? 0) >= 2);
  });

  test('login attempts on one username from one address are throttled with a retry delay', async () => {
    await register('erin');
    for (let i = 0; i < 3; i += 1) await login('erin', 'wrong password guess');
    const { error } = await login('erin');
    assert.equal(error?.code, status.RESOURCE_EXHAUSTED);
    const retryAfter = Number(error.metadata.get('retry-after-ms')[0]);
    assert.ok(retryAfter > 0 && retryAfter <= 60_000, `retry-after-ms ${retryAfter}`);
    assert.match(
      error.details,
      /^too many login attempts for this account from this address: at most 1 per minute, 3 at once; retry in \d+ s$/,
    );
    const text = await app.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'login_user_ip' }), 1);
    assert.equal(sample(text, 'auth_logins_total', { result: 'throttled' }), 1);
  });

  test('a refresh token works once; reusing it revokes the whole session', async () => {
    await register('frank');
    const first = (await login('frank')).response!.tokens;

    const rotated = await unary<{ tokens: TokenPair }>(auth, 'refresh', {
      refreshToken: first.refreshToken,
    });
    assert.equal(rotated.error, null);
    const second = rotated.response!.tokens;
    assert.notEqual(second.refreshToken, first.refreshToken);

    const reuse = await unary(auth, 'refresh', { refreshToken: first.refreshToken });
    assert.equal(reuse.error?.code, status.UNAUTHENTICATED);
    assert.match(reuse.error.details, /already used: the session has been revoked/);

    const afterRevoke = await unary(auth, 'refresh', { refreshToken: second.refreshToken });
    assert.equal(afterRevoke.error?.code, status.UNAUTHENTICATED);
    assert.match(afterRevoke.error.details, /revoked/);
    const text = await app.registry.metrics();
    assert.equal(sample(text, 'auth_token_refreshes_total', { result: 'reuse_detected' }), 1);
    assert.ok(app.logs.find('refresh token reuse detected; session revoked'));
  });

  test('logout revokes the session', async () => {
    await register('grace');
    const tokens = (await login('grace')).response!.tokens;
    assert.equal((await unary(auth, 'logout', { refreshToken: tokens.refreshToken })).error, null);
    const { error } = await unary(auth, 'refresh', { refreshToken: tokens.refreshToken });
    assert.equal(error?.code, status.UNAUTHENTICATED);
  });

  test('active sessions are counted', async () => {
    await register('heidi');
    await login('heidi');
    const text = await app.registry.metrics();
    assert.ok((sample(text, 'auth_active_sessions', {}) ?? 0) >= 1);
  });

  test('HTTP routes use the same token check: 401 without, the caller with', async () => {
    await register('kate');
    const { response } = await login('kate');
    const missing = await fetch(`${app.httpUrl}/v1/session`);
    assert.equal(missing.status, 401);
    const body = (await missing.json()) as { error: string; message: string };
    assert.equal(body.error, 'unauthenticated');
    assert.match(body.message, /^missing access token/);

    const ok = await fetch(`${app.httpUrl}/v1/session`, {
      headers: { authorization: `Bearer ${response!.tokens.accessToken}` },
    });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { user_id: string }).user_id, response!.userId);
  });

  describe('authentication of every other call', () => {
    let token: string;
    let userId: string;

    before(async () => {
      await register('ivan');
      const { response } = await login('ivan');
      token = response!.tokens.accessToken;
      userId = response!.userId;
    });

    const place = (metadata?: Metadata) =>
      unary(orders, 'placeOrder', { symbol: 'BTC-USD' }, metadata);

    test('a missing token is UNAUTHENTICATED and says how to get one', async () => {
      const { error } = await place();
      assert.equal(error?.code, status.UNAUTHENTICATED);
      assert.match(error.details, /^missing access token/);
    });

    test('a malformed token is UNAUTHENTICATED as malformed', async () => {
      const { error } = await place(bearer('not-a-jwt'));
      assert.equal(error?.code, status.UNAUTHENTICATED);
      assert.match(error.details, /malformed/);
      const basic = new Metadata();
      basic.set('authorization', 'Basic dXNlcjpwYXNz');
      const basicError = (await place(basic)).error;
      assert.match(basicError?.details ?? '', /must be "Bearer <token>"/, basicError?.details);
    });

    test('a token signed by another key is UNAUTHENTICATED as wrongly signed', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const forger = new AccessTokens(
        { privateKey, publicKey, kid: 'forged' },
        { issuer: 'trading-platform', audience: 'trading-platform', ttlSeconds: 900 },
        { now: () => new Date() },
      );
      const forged = await forger.issue({ userId, sessionId: randomUUID() });
      const { error } = await place(bearer(forged.token));
      assert.equal(error?.code, status.UNAUTHENTICATED);
      assert.equal(error.details, 'access token signature is not valid');
    });

    const appKeys = () =>
      loadSigningKeys(
        { privateKeyFile: undefined, publicKeyFile: undefined, dataDir: app.config.dataDir },
        app.logs.logger(),
      );

    test('an expired token is UNAUTHENTICATED as expired', async () => {
      const keys = await appKeys();
      const past = new AccessTokens(
        keys,
        { issuer: 'trading-platform', audience: 'trading-platform', ttlSeconds: 60 },
        { now: () => new Date(Date.now() - 3_600_000) },
      );
      const expired = await past.issue({ userId, sessionId: randomUUID() });
      const { error } = await place(bearer(expired.token));
      assert.equal(error?.code, status.UNAUTHENTICATED);
      assert.match(error.details, /expired/);
    });

    test('a validly signed token whose subject is not a user id is UNAUTHENTICATED, alone', async () => {
      const keys = await appKeys();
      const now = Math.floor(Date.now() / 1000);
      const odd = await new SignJWT({ sid: randomUUID(), jti: randomUUID() })
        .setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' })
        .setSubject('abc')
        .setIssuer('trading-platform')
        .setAudience('trading-platform')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(keys.privateKey);

      // In the same moment as a good order, so both would share one engine batch.
      const [balances, placed, good] = await Promise.all([
        unary(accounts, 'getBalances', {}, bearer(odd)),
        unary(orders, 'placeOrder', placeRequest('odd-sub'), bearer(odd)),
        unary(orders, 'placeOrder', placeRequest('good-neighbour'), bearer(token)),
      ]);
      for (const { error } of [balances, placed]) {
        assert.equal(error?.code, status.UNAUTHENTICATED, error?.details);
        assert.match(error.details, /^access token claim "sub" is not valid/);
      }
      assert.equal(good.error, null, good.error?.details);
    });

    test('a valid token passes, and the call is logged with the user id', async () => {
      const { error } = await place(bearer(token));
      assert.equal(error?.code, status.INVALID_ARGUMENT, 'authenticated, then validated');
      assert.ok(
        app.logs.find('grpc call finished', { grpc_method: 'PlaceOrder', user_id: userId }),
        JSON.stringify(app.logs.lines.filter((l) => l.grpc_method === 'PlaceOrder')),
      );
    });
  });
});

describe('registration over gRPC', () => {
  let app: TestApp;
  let auth: Client;

  before(async () => {
    app = await startTestApp({ REGISTER_IP_BURST: '3', REGISTER_IP_PER_MIN: '1' });
    auth = grpcClient(app.grpcAddress, AuthService);
  });

  after(async () => {
    auth.close();
    await app.stop();
  });

  test('parallel registrations from one address are limited, with a retry delay', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        unary(auth, 'register', { username: `burst${i}`, password: PASSWORD }),
      ),
    );
    assert.equal(results.filter((r) => r.error === null).length, 3);
    const refused = results.flatMap((r) => (r.error === null ? [] : [r.error]));
    for (const error of refused) {
      assert.equal(error.code, status.RESOURCE_EXHAUSTED, error.details);
      assert.match(
        error.details,
        /^too many registrations from this address: at most 1 per minute, 3 at once; retry in \d+ s$/,
      );
      assert.ok(Number(error.metadata.get('retry-after-ms')[0]) > 0);
    }
    const text = await app.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'register_ip' }), 7);
    assert.ok(app.logs.find('registration throttled', { scope: 'register_ip' }));
  });
});

describe('per-user rate limit shared by every server through Redis', () => {
  const schema = uniqueName('shared');
  const env = {
    PG_SCHEMA: schema,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `${schema}:`,
    USER_RATE_BURST: '4',
    USER_RATE_METHOD_COSTS: '',
    USER_RATE_PER_S: '1',
  };
  let first: TestApp;
  let second: TestApp;

  before(async () => {
    first = await startTestApp(env);
    second = await startTestApp(env);
  });

  after(async () => {
    await second.stop();
    await first.stop();
  });

  test('two servers allow the burst once between them, not twice', async () => {
    const authA = grpcClient(first.grpcAddress, AuthService);
    await unary(authA, 'register', { username: 'judy', password: PASSWORD });
    const { response } = await unary<{ tokens: TokenPair }>(authA, 'login', {
      username: 'judy',
      password: PASSWORD,
    });
    const metadata = bearer(response!.tokens.accessToken);
    const clients = [first, second].map((app) => grpcClient(app.grpcAddress, OrderService));

    const codes: status[] = [];
    for (let i = 0; i < 8; i += 1) {
      const { error } = await unary(clients[i % 2]!, 'placeOrder', {}, metadata);
      codes.push(error?.code ?? status.OK);
    }
    const limited = codes.filter((code) => code === status.RESOURCE_EXHAUSTED).length;
    assert.equal(limited, 4, `codes: ${codes.join(',')}`);
    authA.close();
    for (const client of clients) client.close();
  });
});
