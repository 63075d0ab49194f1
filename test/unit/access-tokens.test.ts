import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { AccessTokens, type SigningKeys } from '../../src/domain/auth/access-tokens.js';
import type { Clock } from '../../src/domain/clock.js';

const SETTINGS = { issuer: 'test', audience: 'test', ttlSeconds: 60 };

/** Keys the test can swap after tokens were issued, to see whether a call verifies again. */
function swappableKeys(): SigningKeys & { publicKey: KeyObject; other: KeyObject } {
  const signing = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519').publicKey;
  return { ...signing, kid: 'k1', other };
}

function manualClock(start = new Date('2026-11-25T00:00:00Z')) {
  let now = start.getTime();
  const clock: Clock = { now: () => new Date(now) };
  return { clock, advanceSeconds: (s: number) => (now += s * 1000) };
}

const principal = (userId: string) => ({ userId, sessionId: `s-${userId}` });

describe('AccessTokens verification cache', () => {
  it('answers a token it verified before without verifying its signature again', async () => {
    const keys = swappableKeys();
    const { clock } = manualClock();
    const tokens = new AccessTokens(keys, SETTINGS, clock);
    const { token } = await tokens.issue(principal('7'));
    assert.deepEqual(await tokens.verify(token), principal('7'));

    keys.publicKey = keys.other; // a fresh verification would now fail
    assert.deepEqual(await tokens.verify(token), principal('7'));
  });

  it('verifies every call when the cache is off', async () => {
    const keys = swappableKeys();
    const tokens = new AccessTokens(keys, { ...SETTINGS, cacheSize: 0 }, manualClock().clock);
    const { token } = await tokens.issue(principal('7'));
    await tokens.verify(token);

    keys.publicKey = keys.other;
    await assert.rejects(tokens.verify(token), /signature is not valid/);
  });

  it('rejects a remembered token once it has expired', async () => {
    const { clock, advanceSeconds } = manualClock();
    const tokens = new AccessTokens(swappableKeys(), SETTINGS, clock);
    const { token } = await tokens.issue(principal('7'));
    await tokens.verify(token);

    advanceSeconds(SETTINGS.ttlSeconds);
    await assert.rejects(tokens.verify(token), /access token has expired/);
  });

  it('never remembers a token that failed verification', async () => {
    const keys = swappableKeys();
    const tokens = new AccessTokens(keys, SETTINGS, manualClock().clock);
    const { token } = await tokens.issue(principal('7'));
    const tampered = `${token.slice(0, -4)}AAAA`;
    await assert.rejects(tokens.verify(tampered), /signature is not valid/);
    await assert.rejects(tokens.verify(tampered), /signature is not valid/);
  });

  it('keeps at most cacheSize tokens, forgetting the oldest first', async () => {
    const keys = swappableKeys();
    const tokens = new AccessTokens(keys, { ...SETTINGS, cacheSize: 2 }, manualClock().clock);
    const issued = await Promise.all(['1', '2', '3'].map((id) => tokens.issue(principal(id))));
    for (const { token } of issued) await tokens.verify(token);

    keys.publicKey = keys.other;
    const [first, second, third] = issued.map(({ token }) => token);
    await assert.rejects(tokens.verify(first ?? ''), /signature is not valid/);
    assert.deepEqual(await tokens.verify(second ?? ''), principal('2'));
    assert.deepEqual(await tokens.verify(third ?? ''), principal('3'));
  });
});
