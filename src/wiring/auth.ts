import type { DescMethod } from '@bufbuild/protobuf';
import type { Config } from '../config/index.js';
import { Argon2PasswordHasher } from '../adapters/auth/argon2-password-hasher.js';
import { PostgresRefreshTokenRepository } from '../adapters/auth/refresh-token.repository.postgres.js';
import { loadSigningKeys, loadVerifyingKey } from '../adapters/auth/signing-keys.js';
import { PostgresUserRepository } from '../adapters/auth/user.repository.postgres.js';
import { GuardedRateLimiter } from '../adapters/rate-limit/index.js';
import {
  AccessTokens,
  type AccessTokenSettings,
  type Principal,
} from '../domain/auth/access-tokens.js';
import { Authentication } from '../domain/auth/authentication.js';
import { RevokedSessions } from '../domain/auth/revoked-sessions.js';
import { TokenVerifier } from '../domain/auth/token-verifier.js';
import { systemClock } from '../domain/clock.js';
import type { Logger, Registry } from '../telemetry/index.js';
import type { DataLayer } from './data-layer.js';

interface AuthWiringDeps {
  readonly logger: Logger;
  readonly registry: Registry;
}

const keySource = (config: Config) => ({
  privateKeyFile: config.auth.privateKeyFile,
  publicKeyFile: config.auth.publicKeyFile,
  dataDir: config.dataDir,
});

const tokenSettings = (config: Config): AccessTokenSettings => ({
  issuer: 'trading-platform',
  audience: 'trading-platform',
  ttlSeconds: config.auth.accessTokenTtlSeconds,
});

/** The shared revocations, polled from now on: a revoked session's tokens are refused at once. */
async function startRevocations(
  config: Config,
  data: DataLayer,
  { logger, registry }: AuthWiringDeps,
): Promise<RevokedSessions> {
  const revokedSessions = new RevokedSessions(
    { store: data.revocations, clock: systemClock, logger, registry },
    {
      pollIntervalMs: config.auth.revocationPollMs,
      accessTokenTtlMs: config.auth.accessTokenTtlSeconds * 1_000,
    },
  );
  await revokedSessions.start();
  return revokedSessions;
}

/**
 * What ROLE=stream admits users with: the public key and the revocations, no sign-in (no
 * password hasher, no user or refresh-token tables, no login limits).
 */
export async function createTokenVerifier(
  config: Config,
  data: DataLayer,
  deps: AuthWiringDeps,
): Promise<TokenVerifier> {
  const key = await loadVerifyingKey(keySource(config), deps.logger);
  return new TokenVerifier({
    accessTokens: new AccessTokens(key, tokenSettings(config), systemClock),
    revokedSessions: await startRevocations(config, data, deps),
  });
}

/** Register, Login, Refresh and Logout, and the verifier of the tokens they issue. */
export async function createAuth(
  config: Config,
  data: DataLayer,
  deps: AuthWiringDeps,
): Promise<Authentication> {
  const { logger, registry } = deps;
  const keys = await loadSigningKeys(keySource(config), logger);
  const revokedSessions = await startRevocations(config, data, deps);
  // Login and registration limits are configured per minute: refusals quote them so.
  const throttle = (scope: string, what: string, failureMode = config.limits.loginFailureMode) =>
    new GuardedRateLimiter({
      limiter: data.rateLimiter,
      scope,
      failureMode,
      logger,
      registry,
      refusal: { what, per: 'minute' },
    });
  return new Authentication(
    {
      users: new PostgresUserRepository(data.postgres),
      refreshTokens: new PostgresRefreshTokenRepository(data.postgres),
      hasher: new Argon2PasswordHasher(config.auth.argon2),
      accessTokens: new AccessTokens(keys, tokenSettings(config), systemClock),
      loginUserThrottle: throttle('login_user', 'login attempts for this account'),
      loginUserIpThrottle: throttle(
        'login_user_ip',
        'login attempts for this account from this address',
      ),
      loginIpThrottle: throttle('login_ip', 'login attempts from this address'),
      registerIpThrottle: throttle(
        'register_ip',
        'registrations from this address',
        config.limits.registerFailureMode,
      ),
      refreshIpThrottle: throttle(
        'refresh_ip',
        'token refreshes and logouts from this address',
        config.limits.refreshFailureMode,
      ),
      clock: systemClock,
      logger,
      registry,
      revokedSessions,
    },
    {
      refreshTokenTtlSeconds: config.auth.refreshTokenTtlSeconds,
      demoBalances: config.auth.demoBalances,
      loginPerUser: config.limits.loginPerUser,
      loginPerUserIp: config.limits.loginPerUserIp,
      loginPerIp: config.limits.loginPerIp,
      registerPerIp: config.limits.registerPerIp,
      refreshPerIp: config.limits.refreshPerIp,
    },
  );
}

/** Admits an authenticated call: its session must be live and the user within budget. */
export function perUserLimit(
  config: Config,
  tokens: TokenVerifier,
  data: DataLayer,
  deps: AuthWiringDeps,
): (principal: Principal, method: DescMethod) => Promise<void> {
  const perUser = new GuardedRateLimiter({
    limiter: data.rateLimiter,
    scope: 'user',
    failureMode: config.limits.perUserFailureMode,
    ...deps,
  });
  return async (principal, method) => {
    // Also run for each command of an order-entry stream: a revoked session's stream ends.
    tokens.assertActive(principal);
    await perUser.enforce(principal.userId, {
      ...config.limits.perUser,
      cost: config.limits.methodCosts[method.name] ?? 1,
    });
  };
}
