import { randomUUID } from 'node:crypto';
import type { Logger, Registry } from '../../telemetry/index.js';
import type { Clock } from '../clock.js';
import { addressKey } from '../address-key.js';
import { DomainError, isDomainError } from '../errors.js';
import type { ConsumeOptions } from '../ports/rate-limiter.port.js';
import { parseRequest } from '../validation.js';
import type { AccessTokens } from './access-tokens.js';
import { authMetrics } from './auth.metrics.js';
import type { RevokedSessions } from './revoked-sessions.js';
import { TokenVerifier } from './token-verifier.js';
import type {
  PasswordHasher,
  RefreshTokenRecord,
  RefreshTokenRepository,
  UserRepository,
} from './auth.port.js';
import { loginSchema, refreshTokenSchema, registerSchema } from './credentials.js';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens.js';

/** Refuses with `resource_exhausted` once a key is over its limit (GuardedRateLimiter). */
export interface Throttle {
  /** What it limits, e.g. `login_ip`: named in logs. */
  readonly scope: string;
  enforce(key: string, limit: ConsumeOptions): Promise<unknown>;
}

export interface AuthSettings {
  readonly refreshTokenTtlSeconds: number;
  readonly demoBalances: Readonly<Record<string, bigint>>;
  /**
   * Login attempts per (username, client address): slows guessing one account's password
   * without letting a guesser's failures refuse the owner, who logs in from elsewhere.
   */
  readonly loginPerUserIp: ConsumeOptions;
  /**
   * Login attempts per username from every address: caps guessing spread over many addresses.
   * Looser than loginPerUserIp (config holds that), so no single address can exhaust it.
   */
  readonly loginPerUser: ConsumeOptions;
  /** Login attempts per client address: slows credential stuffing across accounts. */
  readonly loginPerIp: ConsumeOptions;
  /** Registrations per client address: stops scripts creating accounts (and demo balances). */
  readonly registerPerIp: ConsumeOptions;
  /**
   * Refresh and Logout calls per client address: each looks a token up in PostgreSQL, and a
   * made-up one costs that lookup as much as a real one.
   */
  readonly refreshPerIp: ConsumeOptions;
}

export interface AuthDeps {
  readonly users: UserRepository;
  readonly refreshTokens: RefreshTokenRepository;
  readonly hasher: PasswordHasher;
  readonly accessTokens: AccessTokens;
  readonly loginUserThrottle: Throttle;
  readonly loginUserIpThrottle: Throttle;
  readonly loginIpThrottle: Throttle;
  readonly registerIpThrottle: Throttle;
  readonly refreshIpThrottle: Throttle;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Logout and reuse detection revoke access tokens here too; unset, they live until expiry. */
  readonly revokedSessions?: RevokedSessions;
}

export interface IssuedTokens {
  readonly accessToken: string;
  readonly accessTokenExpiresAt: Date;
  readonly refreshToken: string;
  readonly refreshTokenExpiresAt: Date;
}

/** Register, Login, Refresh (with rotation and reuse detection) and Logout. */
export class Authentication {
  /** Verifies the tokens it issues, as a process without this class would (ROLE=stream). */
  readonly tokens: TokenVerifier;
  readonly #metrics;
  /** Verified against when the user does not exist, so timing does not reveal usernames. */
  #decoyHash: Promise<string> | undefined;

  constructor(
    private readonly deps: AuthDeps,
    private readonly settings: AuthSettings,
  ) {
    this.tokens = new TokenVerifier({
      accessTokens: deps.accessTokens,
      ...(deps.revokedSessions === undefined ? {} : { revokedSessions: deps.revokedSessions }),
    });
    this.#metrics = authMetrics(deps.registry, () =>
      deps.refreshTokens.countActiveFamilies(deps.clock.now()),
    );
  }

  async register(input: unknown, client: { ip: string }): Promise<{ userId: string }> {
    const { username, password } = parseRequest(registerSchema, input);
    // After validation, so fixing a typo costs nothing; before hashing, the expensive part.
    const { registerIpThrottle } = this.deps;
    const key = addressKey(client.ip);
    await this.#throttle(registerIpThrottle, key, this.settings.registerPerIp, (scope) => {
      this.deps.logger.warn({ client_ip: client.ip, scope }, 'registration throttled');
    });
    const passwordHash = await this.deps.hasher.hash(password);
    const user = await this.deps.users.create({
      username,
      passwordHash,
      demoBalances: this.settings.demoBalances,
    });
    this.deps.logger.info({ user_id: user.id }, 'user registered');
    return { userId: user.id };
  }

  async login(
    input: unknown,
    client: { ip: string },
  ): Promise<{ userId: string; tokens: IssuedTokens }> {
    let request;
    try {
      request = parseRequest(loginSchema, input);
    } catch (error) {
      this.#metrics.login('invalid_argument');
      throw error;
    }
    await this.#throttleLogin(request.username.toLowerCase(), client.ip);

    const user = await this.deps.users.findByUsername(request.username);
    const valid =
      user === undefined
        ? await this.deps.hasher.verify(await this.#decoy(), request.password).then(() => false)
        : await this.deps.hasher.verify(user.passwordHash, request.password);
    if (user === undefined || !valid) {
      this.#metrics.login('invalid_credentials');
      this.deps.logger.info({ client_ip: client.ip }, 'login failed');
      // One message for both cases: which usernames exist is nobody's business.
      throw new DomainError('unauthenticated', 'username or password is incorrect');
    }

    const tokens = await this.#issue(user.id, randomUUID());
    this.#metrics.login('success');
    this.deps.logger.info({ user_id: user.id }, 'user logged in');
    return { userId: user.id, tokens };
  }

  /**
   * Narrowest first: an attempt refused for its address or (name, address) does not count
   * against the name's limit across addresses, so one address can never exhaust that one.
   */
  async #throttleLogin(username: string, ip: string): Promise<void> {
    const { loginIpThrottle, loginUserIpThrottle, loginUserThrottle } = this.deps;
    const address = addressKey(ip);
    const checks: [Throttle, string, ConsumeOptions][] = [
      [loginIpThrottle, address, this.settings.loginPerIp],
      // An address key never contains "|" (it may contain "/": an IPv6 /64), so the key
      // cannot be read two ways.
      [loginUserIpThrottle, `${address}|${username}`, this.settings.loginPerUserIp],
      [loginUserThrottle, username, this.settings.loginPerUser],
    ];
    for (const [throttle, key, limit] of checks) {
      await this.#throttle(throttle, key, limit, (scope) => {
        this.#metrics.login('throttled');
        this.deps.logger.warn({ client_ip: ip, username, scope }, 'login throttled');
      });
    }
  }

  /** After validation, so a malformed token costs nothing; before the lookup, the cost. */
  async #throttleRefresh(ip: string, message: string): Promise<void> {
    const { refreshIpThrottle } = this.deps;
    await this.#throttle(refreshIpThrottle, addressKey(ip), this.settings.refreshPerIp, (scope) => {
      this.deps.logger.warn({ client_ip: ip, scope }, message);
    });
  }

  /** Enforces one limit; `refused` (to count and log) runs before a refusal is thrown. */
  async #throttle(
    throttle: Throttle,
    key: string,
    limit: ConsumeOptions,
    refused: (scope: string) => void,
  ): Promise<void> {
    try {
      await throttle.enforce(key, limit);
    } catch (error) {
      if (isDomainError(error) && error.code === 'resource_exhausted') refused(throttle.scope);
      throw error;
    }
  }

  async refresh(input: unknown, client: { ip: string }): Promise<IssuedTokens> {
    const { refreshToken } = parseRequest(refreshTokenSchema, input);
    await this.#throttleRefresh(client.ip, 'token refresh throttled');
    const record = await this.deps.refreshTokens.findByHash(hashRefreshToken(refreshToken));
    const now = this.deps.clock.now();
    this.#assertUsable(record, now);

    const next = newRefreshToken();
    const expiresAt = this.#refreshExpiry(now);
    const rotated = await this.deps.refreshTokens.rotate(record.id, now, {
      userId: record.userId,
      familyId: record.familyId,
      tokenHash: hashRefreshToken(next),
      expiresAt,
    });
    if (!rotated) await this.#reuseDetected(record, now);

    const access = await this.deps.accessTokens.issue({
      userId: record.userId,
      sessionId: record.familyId,
    });
    this.#metrics.refresh('success');
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: next,
      refreshTokenExpiresAt: expiresAt,
    };
  }

  /** Revokes the session of the given refresh token. Unknown tokens are ignored: nothing to end. */
  async logout(input: unknown, client: { ip: string }): Promise<void> {
    const { refreshToken } = parseRequest(refreshTokenSchema, input);
    await this.#throttleRefresh(client.ip, 'logout throttled');
    const record = await this.deps.refreshTokens.findByHash(hashRefreshToken(refreshToken));
    if (record === undefined) return;
    await this.deps.refreshTokens.revokeFamily(record.familyId, this.deps.clock.now());
    // Rejects if the revocation could not be shared: the client's retry repeats both steps.
    await this.deps.revokedSessions?.revoke(record.familyId);
    this.deps.logger.info(
      { user_id: record.userId, session_id: record.familyId },
      'user logged out',
    );
  }

  #assertUsable(
    record: RefreshTokenRecord | undefined,
    now: Date,
  ): asserts record is RefreshTokenRecord {
    if (record === undefined) {
      this.#metrics.refresh('invalid');
      throw new DomainError('unauthenticated', 'refresh token is not valid: log in again');
    }
    if (record.revokedAt !== undefined) {
      this.#metrics.refresh('revoked');
      throw new DomainError('unauthenticated', 'refresh token was revoked: log in again');
    }
    if (record.expiresAt.getTime() <= now.getTime()) {
      this.#metrics.refresh('expired');
      throw new DomainError('unauthenticated', 'refresh token has expired: log in again');
    }
  }

  async #reuseDetected(record: RefreshTokenRecord, now: Date): Promise<never> {
    // A used token presented again means it leaked (or a client raced itself): either way,
    // nobody holding this family can be trusted any more.
    const revoked = await this.deps.refreshTokens.revokeFamily(record.familyId, now);
    this.#metrics.refresh('reuse_detected');
    await this.deps.revokedSessions?.revoke(record.familyId).catch((error: unknown) => {
      // This pod refuses the session's access tokens already; the others only at their expiry.
      this.deps.logger.error(
        { err: error, session_id: record.familyId },
        'revocation of a reused session could not be shared with other pods',
      );
    });
    this.deps.logger.warn(
      { user_id: record.userId, session_id: record.familyId, revoked_tokens: revoked },
      'refresh token reuse detected; session revoked',
    );
    throw new DomainError(
      'unauthenticated',
      'refresh token was already used: the session has been revoked, log in again',
    );
  }

  async #issue(userId: string, familyId: string): Promise<IssuedTokens> {
    const refreshToken = newRefreshToken();
    const refreshTokenExpiresAt = this.#refreshExpiry(this.deps.clock.now());
    await this.deps.refreshTokens.insert({
      userId,
      familyId,
      tokenHash: hashRefreshToken(refreshToken),
      expiresAt: refreshTokenExpiresAt,
    });
    const access = await this.deps.accessTokens.issue({ userId, sessionId: familyId });
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt,
    };
  }

  #refreshExpiry(now: Date): Date {
    return new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000);
  }

  #decoy(): Promise<string> {
    this.#decoyHash ??= this.deps.hasher.hash(newRefreshToken());
    return this.#decoyHash;
  }
}
