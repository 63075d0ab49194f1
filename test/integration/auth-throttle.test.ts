import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import type { Authentication } from '../../src/domain/auth/authentication.js';
import { isDomainError } from '../../src/domain/errors.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { createMetricsRegistry } from '../../src/telemetry/index.js';
import { createAuth } from '../../src/wiring/auth.js';
import { openDataLayer, type DataLayer } from '../../src/wiring/data-layer.js';
import {
  dropRedisKeys,
  dropSchema,
  LogCapture,
  sample,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  uniqueName,
} from '../support/app.js';

/**
 * The auth use cases on the real wiring (PostgreSQL, the Redis rate limiter, the configured
 * limits), called with the client address a transport would pass: gRPC tests all come from
 * 127.0.0.1, these can come from anywhere.
 */
async function openAuth(env: Record<string, string> = {}) {
  const schema = uniqueName('auth_throttle');
  const config = loadConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    PG_SCHEMA: schema,
    PG_POOL_MAX: '2',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `${schema}:`,
    AUTH_ARGON2_MEMORY_KIB: '1024',
    AUTH_ARGON2_TIME_COST: '1',
    DATA_DIR: '.data/test',
    ...env,
  });
  const logs = new LogCapture();
  const registry = createMetricsRegistry({ version: config.version, role: config.role });
  const deps = { logger: logs.logger(), registry };
  const data: DataLayer = await openDataLayer(config, { ...deps, readiness: new Readiness() });
  const auth: Authentication = await createAuth(config, data, deps);
  return {
    auth,
    registry,
    close: async () => {
      for (const step of data.closeSteps) await step.run();
      await dropSchema(TEST_DATABASE_URL, schema);
      await dropRedisKeys(`${schema}:`);
    },
  };
}

const PASSWORD = 'correct horse battery';
const A = { ip: '203.0.113.10' };
const B = { ip: '198.51.100.20' };

const isCode = (code: string) => (error: unknown) => isDomainError(error) && error.code === code;

describe('login throttling with the default limits', () => {
  let env: Awaited<ReturnType<typeof openAuth>>;
  before(async () => {
    env = await openAuth();
  });
  after(() => env.close());

  test("an attacker's failures on a name do not lock its owner out from another address", async () => {
    await env.auth.register({ username: 'owner', password: PASSWORD }, B);
    for (let i = 0; i < 10; i += 1) {
      await assert.rejects(
        env.auth.login({ username: 'owner', password: `guess number ${i}` }, A),
        isCode('unauthenticated'),
      );
    }
    const owner = await env.auth.login({ username: 'OWNER', password: PASSWORD }, B);
    assert.match(owner.userId, /^\d+$/);

    // The attacker's address stays throttled on that name, even with the right password.
    await assert.rejects(
      env.auth.login({ username: 'owner', password: PASSWORD }, A),
      (error: unknown) =>
        isCode('resource_exhausted')(error) &&
        isDomainError(error) &&
        (error.retryAfterMs ?? 0) > 0 &&
        /^too many login attempts for this account from this address: at most 5 per minute, 10 at once; retry in \d+ s$/.test(
          error.message,
        ),
    );
    const text = await env.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'login_user_ip' }), 1);
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'login_user' }), 0);
  });
});

describe('login throttling per username across addresses', () => {
  let env: Awaited<ReturnType<typeof openAuth>>;
  before(async () => {
    env = await openAuth({
      LOGIN_USER_IP_BURST: '2',
      LOGIN_USER_IP_PER_MIN: '1',
      LOGIN_USER_BURST: '5',
      LOGIN_USER_PER_MIN: '1',
    });
  });
  after(() => env.close());

  test('many addresses guessing one name are stopped by the looser per-username limit', async () => {
    await env.auth.register({ username: 'target', password: PASSWORD }, B);
    const guess = (ip: string) =>
      env.auth.login({ username: 'target', password: 'wrong guess here' }, { ip });
    const outcomes = [];
    for (let i = 0; i < 4; i += 1) {
      for (let j = 0; j < 2; j += 1) {
        outcomes.push(await guess(`192.0.2.${i}`).catch((error: unknown) => error));
      }
    }
    const throttled = outcomes.filter(isCode('resource_exhausted'));
    assert.equal(throttled.length, 3, 'burst 5 across addresses, 2 per address');
    const text = await env.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'login_user' }), 3);
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'login_user_ip' }), 0);
  });
});

describe('registration limit per client address, default settings', () => {
  let env: Awaited<ReturnType<typeof openAuth>>;
  before(async () => {
    env = await openAuth();
  });
  after(() => env.close());

  test('a script registering from one address is refused after a small burst; others are not', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        env.auth
          .register({ username: `script${i}`, password: PASSWORD }, A)
          .catch((error: unknown) => error),
      ),
    );
    const refused = outcomes.filter(isCode('resource_exhausted'));
    assert.equal(40 - refused.length, 10, 'the burst');
    for (const error of refused) {
      assert.ok(isDomainError(error) && (error.retryAfterMs ?? 0) > 0, String(error));
      assert.match(
        String(error),
        /too many registrations from this address: at most 2 per minute, 10 at once; retry in \d+ s$/,
      );
    }
    const other = await env.auth.register({ username: 'someone-else', password: PASSWORD }, B);
    assert.match(other.userId, /^\d+$/);
    const text = await env.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'register_ip' }), 30);
  });

  test('invalid requests are refused before they count', async () => {
    for (let i = 0; i < 20; i += 1) {
      await assert.rejects(
        env.auth.register({ username: 'x', password: PASSWORD }, { ip: '192.0.2.99' }),
        isCode('invalid_argument'),
      );
    }
    await env.auth.register({ username: 'typo-fixed', password: PASSWORD }, { ip: '192.0.2.99' });
  });
});

describe('refresh and logout per client address', () => {
  let env: Awaited<ReturnType<typeof openAuth>>;
  before(async () => {
    env = await openAuth({ REFRESH_IP_BURST: '3', REFRESH_IP_PER_MIN: '1' });
  });
  after(() => env.close());

  test('made-up refresh tokens from one address are refused after the burst; others are not', async () => {
    const madeUp = { refreshToken: 'made-up-refresh-token-of-a-plausible-length-00' };
    for (let i = 0; i < 3; i += 1) {
      await assert.rejects(env.auth.refresh(madeUp, A), isCode('unauthenticated'));
    }
    // Logout spends the same budget: it looks the token up too.
    const refused = await env.auth.logout(madeUp, A).catch((error: unknown) => error);
    assert.ok(isDomainError(refused) && refused.code === 'resource_exhausted', String(refused));
    assert.ok((refused.retryAfterMs ?? 0) > 0);
    assert.match(
      refused.message,
      /^too many token refreshes and logouts from this address: at most 1 per minute, 3 at once; retry in \d+ s$/,
    );
    await assert.rejects(env.auth.refresh(madeUp, A), isCode('resource_exhausted'));

    await env.auth.register({ username: 'refresher', password: PASSWORD }, B);
    const { tokens } = await env.auth.login({ username: 'refresher', password: PASSWORD }, B);
    const rotated = await env.auth.refresh({ refreshToken: tokens.refreshToken }, B);
    await env.auth.logout({ refreshToken: rotated.refreshToken }, B);
    const text = await env.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'refresh_ip' }), 2);
  });

  test('invalid requests are refused before they count', async () => {
    const ip = { ip: '192.0.2.77' };
    for (let i = 0; i < 10; i += 1) {
      await assert.rejects(env.auth.refresh({ refreshToken: '' }, ip), isCode('invalid_argument'));
    }
    await assert.rejects(
      env.auth.refresh({ refreshToken: 'not-a-token' }, ip),
      isCode('unauthenticated'),
    );
  });
});
