import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import { AccessTokens, type SigningKeys } from '../../src/domain/auth/access-tokens.js';
import { isDomainError } from '../../src/domain/errors.js';
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

/** A fixed session id per user, so a verified principal can be compared with the issued one. */
const SESSIONS = new Map<string, string>();
const principal = (userId: string) => {
  if (!SESSIONS.has(userId)) SESSIONS.set(userId, randomUUID());
  return { userId, sessionId: SESSIONS.get(userId) ?? '' };
};

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

describe('AccessTokens claim shapes', () => {
  const keys = swappableKeys();
  const { clock } = manualClock();
  const tokens = new AccessTokens(keys, SETTINGS, clock);
  const nowSeconds = Math.floor(clock.now().getTime() / 1000);
  const session = randomUUID();

  /** Signs with the verifier's own key: only the claims can be wrong. */
  const signed = (claims: JWTPayload) =>
    new SignJWT({ sid: randomUUID(), jti: randomUUID(), sub: '7', ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' })
      .setIssuer(SETTINGS.issuer)
      .setAudience(SETTINGS.audience)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + 60)
      .sign(keys.privateKey);

  const unauthenticated = (claim: string) => (error: unknown) =>
    isDomainError(error) &&
    error.code === 'unauthenticated' &&
    error.message.startsWith(`access token claim "${claim}" is not valid`);

  it('accepts the claims it issues', async () => {
    assert.deepEqual(await tokens.verify(await signed({ sub: '42', sid: session })), {
      userId: '42',
      sessionId: session,
    });
  });

  it('refuses a validly signed token whose subject is not a user id', async () => {
    for (const sub of ['abc', '', '0', '-1', '1.5', '1e3', ' 7', '07', '9007199254740993']) {
      await assert.rejects(tokens.verify(await signed({ sub })), unauthenticated('sub'), sub);
    }
  });

  it('refuses a session id that is not a UUID, and a missing one', async () => {
    await assert.rejects(tokens.verify(await signed({ sid: 'x' })), unauthenticated('sid'));
    await assert.rejects(tokens.verify(await signed({ sid: 7 })), unauthenticated('sid'));
    await assert.rejects(tokens.verify(await signed({ sid: undefined })), unauthenticated('sid'));
  });

  it('refuses a token id that is not a UUID', async () => {
    await assert.rejects(tokens.verify(await signed({ jti: 'x' })), unauthenticated('jti'));
  });

  it('never issues a token it would refuse', async () => {
    await assert.rejects(tokens.issue({ userId: 'abc', sessionId: randomUUID() }), /user id/);
    await assert.rejects(tokens.issue({ userId: '7', sessionId: 'x' }), /UUID/);
  });
});
