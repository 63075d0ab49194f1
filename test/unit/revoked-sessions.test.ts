import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { MemorySessionRevocations } from '../../src/adapters/auth/session-revocations.memory.js';
import { RevokedSessions } from '../../src/domain/auth/revoked-sessions.js';
import type { SessionRevocations } from '../../src/domain/ports/session-revocations.port.js';
import { metricValue, silentLogger } from './adapters/support/observability.js';

const TTL_MS = 60_000;

function harness(store: SessionRevocations = new MemorySessionRevocations(() => now.ms)) {
  const registry = new Registry();
  const revoked = new RevokedSessions(
    { store, clock: { now: () => new Date(now.ms) }, logger: silentLogger(), registry },
    { pollIntervalMs: 60_000, accessTokenTtlMs: TTL_MS },
  );
  return { revoked, registry, store };
}
const now = { ms: 1_000_000 };

test('a revocation recorded by another pod is honoured from the next sync until the tokens expire', async () => {
  const shared = new MemorySessionRevocations(() => now.ms);
  const here = harness(shared);
  const there = harness(shared);

  await there.revoked.revoke('s-1');
  assert.equal(there.revoked.isRevoked('s-1'), true, 'at once on the revoking pod');
  assert.equal(here.revoked.isRevoked('s-1'), false);

  await here.revoked.sync();
  assert.equal(here.revoked.isRevoked('s-1'), true);
  assert.equal(here.revoked.isRevoked('s-2'), false);

  now.ms += TTL_MS;
  await here.revoked.sync();
  assert.equal(here.revoked.isRevoked('s-1'), false, 'its tokens have all expired');
  assert.equal(await metricValue(here.registry, 'auth_revoked_sessions'), 0);
});

test('a store that cannot be read leaves what is known in place and counts the failure', async () => {
  const failing: SessionRevocations = {
    revoke: () => Promise.resolve(),
    since: () => Promise.reject(new Error('redis down')),
  };
  const { revoked, registry } = harness(failing);
  await revoked.revoke('s-1');
  await revoked.sync();
  assert.equal(revoked.isRevoked('s-1'), true);
  assert.equal(
    await metricValue(registry, 'auth_revocation_syncs_total', { result: 'failure' }),
    1,
  );
});

test('a watcher is told once when its session is revoked, and at once if it already was', async () => {
  const { revoked } = harness();
  let told = 0;
  const unwatch = revoked.watch('s-1', () => (told += 1));
  let other = 0;
  revoked.watch('s-2', () => (other += 1));

  await revoked.revoke('s-1');
  await revoked.revoke('s-1');
  unwatch();
  assert.equal(told, 1);
  assert.equal(other, 0);

  let late = 0;
  revoked.watch('s-1', () => (late += 1));
  await Promise.resolve();
  assert.equal(late, 1);
});
