// Pods of one deployment must accept each other's access tokens: they share one signing key
// pair from files (k8s mounts it from a Secret), not a development key per data directory.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { dropRedisKeys, dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { deploymentEnv, spawnApp } from '../support/process.js';

const credentials = { username: 'kim', password: 'long enough password' };

test('a token issued by one process verifies on another that shares the key files', async () => {
  const schema = uniqueName('keys');
  const dir = await mkdtemp(join(tmpdir(), 'tp-keys-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keys = {
    AUTH_JWT_PRIVATE_KEY_FILE: join(dir, 'private.pem'),
    AUTH_JWT_PUBLIC_KEY_FILE: join(dir, 'public.pem'),
    AUTH_REQUIRE_KEY_FILES: 'true',
  };
  await writeFile(
    keys.AUTH_JWT_PRIVATE_KEY_FILE,
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  await writeFile(keys.AUTH_JWT_PUBLIC_KEY_FILE, publicKey.export({ type: 'spki', format: 'pem' }));
  // Separate data directories, as separate pods have: only the key files are shared.
  const podEnv = (name: string) => deploymentEnv(schema, join(dir, name));
  const apps = [
    await spawnApp({ ...podEnv('a'), ...keys }),
    await spawnApp({ ...podEnv('b'), ...keys }),
    // The control: a process on a development key of its own.
    await spawnApp(podEnv('c')),
  ];
  try {
    await Promise.all(apps.map((app) => app.waitForLog('app started')));
    const [issuer, peer, stranger] = apps;
    const auth = grpcClient(issuer!.grpcAddress, AuthService);
    await unary(auth, 'register', credentials);
    const { error, response } = await unary<{ tokens: { accessToken: string } }>(
      auth,
      'login',
      credentials,
    );
    auth.close();
    assert.equal(error, null);
    const session = (url: string) =>
      fetch(`${url}/v1/session`, {
        headers: { authorization: `Bearer ${response!.tokens.accessToken}` },
      });
    assert.equal((await session(peer!.httpUrl)).status, 200, 'the peer verifies the token');
    assert.equal((await session(stranger!.httpUrl)).status, 401, 'a development key does not');
  } finally {
    for (const app of apps) app.child.kill('SIGTERM');
    await Promise.all(apps.map((app) => app.exited));
    await dropSchema(TEST_DATABASE_URL, schema);
    await dropRedisKeys(`${schema}:`);
    await rm(dir, { recursive: true, force: true });
  }
});

test('AUTH_REQUIRE_KEY_FILES=true without key files refuses to start', async () => {
  const app = await spawnApp({ AUTH_REQUIRE_KEY_FILES: 'true' });
  assert.notEqual(await app.exited, 0);
  assert.match(app.stderr.join('\n'), /AUTH_REQUIRE_KEY_FILES=true needs the shared Ed25519/);
});
