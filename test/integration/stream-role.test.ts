import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { SessionService } from '../../src/gen/trading/v1/session_pb.js';
import { sample, startTestApp, TEST_REDIS_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { subscribe } from '../support/stream-client.js';

const POLL_MS = 200;

// A stream pod admits users by their access tokens; signing them in is the api's.
test('ROLE=stream verifies tokens with the public key alone, and signs nobody in', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-stream-role-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateFile = join(dir, 'private.pem');
  const publicFile = join(dir, 'public.pem');
  await writeFile(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
    mode: 0o600,
  });
  await writeFile(publicFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const shared = { REDIS_URL: TEST_REDIS_URL, AUTH_REVOCATION_POLL_MS: String(POLL_MS) };
  // ROLE=all issues the tokens, as an api pod would; it holds the signing key.
  const api = await startTestApp({
    ...shared,
    AUTH_JWT_PRIVATE_KEY_FILE: privateFile,
    AUTH_JWT_PUBLIC_KEY_FILE: publicFile,
  });
  const streamDataDir = join(dir, 'stream-data');
  const stream = await startTestApp({
    ...shared,
    ROLE: 'stream',
    POD_NAME: 'stream-0',
    DATA_DIR: streamDataDir,
    PG_SCHEMA: api.config.postgres.schema ?? '',
    REDIS_KEY_PREFIX: api.config.redis.keyPrefix,
    // Only the public key: a stream pod needs no more, even where key files are required.
    AUTH_JWT_PUBLIC_KEY_FILE: publicFile,
    AUTH_REQUIRE_KEY_FILES: 'true',
  });
  const authOnApi = grpcClient(api.grpcAddress, AuthService);
  const authOnStream = grpcClient(stream.grpcAddress, AuthService);
  const sessionOnStream = grpcClient(stream.grpcAddress, SessionService);
  t.after(async () => {
    for (const client of [authOnApi, authOnStream, sessionOnStream]) client.close();
    await stream.shutdown.run('test finished');
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  });

  assert.equal(existsSync(join(streamDataDir, 'dev-jwt-ed25519.pem')), false, 'no key made');
  assert.equal(
    stream.logs.lines.find((line) => String(line.msg).includes('development JWT signing key')),
    undefined,
  );
  const metrics = await stream.registry.metrics();
  const families = [...metrics.matchAll(/^# TYPE (\w+)/gm)].map(([, name = '']) => name);
  // Sign-in (hasher, users, refresh tokens) would count logins, refreshes and sessions.
  assert.deepEqual(
    families.filter((name) => name.startsWith('auth_')).sort(),
    ['auth_revocation_syncs_total', 'auth_revoked_sessions'],
    'revocations polled, no sign-in built',
  );
  const scopes = [...metrics.matchAll(/^rate_limit_rejections_total\{scope="(\w+)"\}/gm)]
    .map(([, scope = '']) => scope)
    .sort();
  assert.deepEqual(scopes, ['market_streams_ip', 'order_book_ip', 'subscribe_ip', 'user']);
  const login = { grpc_service: 'trading.v1.AuthService', grpc_method: 'Login' };
  assert.equal(sample(metrics, 'grpc_server_started_total', login), undefined);
  const credentials = { username: uniqueName('streamrole'), password: 'correct horse battery' };
  const unserved = await unary(authOnStream, 'register', credentials);
  assert.equal(unserved.error?.code, status.UNIMPLEMENTED, 'no AuthService on a stream pod');

  // A token the api issued opens a private stream here, and its logout there ends the stream.
  assert.equal((await unary(authOnApi, 'register', credentials)).error, null);
  const { response } = await unary<{ tokens: { accessToken: string; refreshToken: string } }>(
    authOnApi,
    'login',
    credentials,
  );
  assert.ok(response);
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${response.tokens.accessToken}`);
  const orders = subscribe(sessionOnStream, 'openStream', {}, metadata);
  await orders.until(() => orders.messages.length > 0, 'the private stream to start');

  await unary(authOnApi, 'logout', { refreshToken: response.tokens.refreshToken });
  await orders
    .until(() => orders.error !== undefined || orders.ended, 'the stream to end', POLL_MS * 10)
    .catch(() => undefined);
  assert.equal(orders.error?.code, status.UNAUTHENTICATED);
});
