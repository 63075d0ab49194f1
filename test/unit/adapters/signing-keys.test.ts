import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadSigningKeys } from '../../../src/adapters/auth/signing-keys.js';
import { silentLogger } from './support/observability.js';

test('processes starting together on a fresh data directory end up with the same development key', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'signing-keys-'));
  try {
    const source = { privateKeyFile: undefined, publicKeyFile: undefined, dataDir };

    const keys = await Promise.all(
      Array.from({ length: 8 }, () => loadSigningKeys(source, silentLogger())),
    );
    const later = await loadSigningKeys(source, silentLogger());

    assert.deepEqual(new Set(keys.map((key) => key.kid)), new Set([later.kid]));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
