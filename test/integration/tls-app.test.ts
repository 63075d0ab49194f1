import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { startTestApp } from '../support/app.js';
import { healthClient, unary } from '../support/grpc.js';

test('TLS_MODE=dev makes a development CA at start-up and serves TLS on both ports with it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-dev-'));
  const app = await startTestApp({ TLS_MODE: 'dev', TLS_DEV_DIR: dir });
  try {
    assert.deepEqual((await readdir(dir)).sort(), [
      'ca.crt',
      'client.crt',
      'client.key',
      'server.crt',
      'server.key',
    ]);
    const ca = await readFile(join(dir, 'ca.crt'));
    const status = await new Promise<number>((resolve, reject) => {
      httpsGet({ host: '127.0.0.1', port: app.httpPort, path: '/healthz', ca }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);
    // The public gRPC port asks for no client certificate: users are not internal callers.
    const client = healthClient(app.grpcAddress, credentials.createSsl(ca));
    const { error } = await unary(client, 'check', { service: '' });
    client.close();
    assert.equal(error, null);
  } finally {
    await app.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
