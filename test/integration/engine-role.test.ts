import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sample, startTestApp } from '../support/app.js';

// The engine serves EngineService alone, to api pods over mTLS: no user's token reaches it.
test('ROLE=engine starts without signing keys, token checks or user rate limits', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-engine-role-'));
  const app = await startTestApp({ ROLE: 'engine', DATA_DIR: dataDir });
  t.after(async () => {
    await app.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Without key files every token-verifying process generates a development key here.
  assert.equal(existsSync(join(dataDir, 'dev-jwt-ed25519.pem')), false, 'no signing key made');
  assert.equal(
    app.logs.lines.find((line) => String(line.msg).includes('development JWT signing key')),
    undefined,
  );
  const metrics = await app.registry.metrics();
  const families = [...metrics.matchAll(/^# TYPE (\w+)/gm)].map(([, name = '']) => name);
  assert.deepEqual(
    families.filter((name) => name.startsWith('auth_') || name.startsWith('rate_limit_')),
    [],
    'no revocation polling, login counters or per-user limits',
  );
  // What it is there for is still served.
  const engine = { grpc_service: 'trading.internal.v1.EngineService', grpc_method: 'Submit' };
  assert.equal(sample(metrics, 'grpc_server_started_total', engine), 0);
  assert.equal((await fetch(`${app.httpUrl}/v1/session`)).status, 404, 'no user routes');
});
