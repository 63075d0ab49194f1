import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';

/** Who made a call, as proven by a verified access token. */
export interface Principal {
  /** A user id as the users table issues them: decimal, from 1, exact as a JS number. */
  readonly userId: string;
  /** The refresh-token family the access token was issued under. */
  readonly sessionId: string;
}

/** What verifying needs: a process that only verifies (ROLE=stream) holds no private key. */
export interface VerifyingKey {
  readonly publicKey: CryptoKey | KeyObject;
  /** Key id, so keys can be rotated while old tokens are still valid. */
  readonly kid: string;
}

export interface SigningKeys extends VerifyingKey {
  readonly privateKey: CryptoKey | KeyObject;
}

export interface AccessTokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  /**
   * Tokens remembered after a successful verification (0 = verify every call). A token is
   * immutable and its signature cannot become valid or invalid later, so until it expires a
   * second verification can only repeat the first answer; Ed25519 verification is the largest
   * per-call cost of an order (see docs/benchmarks.md). Default 10,000.
   */
  readonly cacheSize?: number;
}

/** A verified access token: who it proves, and until when (a long stream must end then). */
export interface VerifiedToken {
  readonly principal: Principal;
  readonly expiresAtMs: number;
}

const ALGORITHM = 'EdDSA';

const USER_ID_RULE = 'expected a user id: decimal digits from 1, no leading zero';

/** Callers turn it into a number (the orders code's user id), so it must be exact as one. */
const userIdSchema = z
  .string({ error: USER_ID_RULE })
  .regex(/^[1-9][0-9]{0,15}$/, { error: USER_ID_RULE })
  .refine((id) => Number.isSafeInteger(Number(id)), { error: USER_ID_RULE });

const uuidSchema = z.uuid({ error: 'expected a UUID' });

const principalSchema = z.object({ userId: userIdSchema, sessionId: uuidSchema });

/**
 * The shape of every claim this service issues. A validly signed token with a claim of any
 * other shape (an old format, a signing bug, a leaked key used carelessly) must be refused
 * here, not fail deep inside a use case or a shared engine batch.
 */
const claimsSchema = z.object({
  sub: userIdSchema,
  sid: uuidSchema,
  jti: uuidSchema,
  exp: z.number({ error: 'expected seconds since the epoch' }).int(),
});

/** Short-lived signed JWTs (Ed25519): any pod can verify one with the public key alone. */
export class AccessTokens {
  /** Verified tokens in insertion order, so the oldest is the first to go. */
  readonly #verified = new Map<string, VerifiedToken>();
  readonly #cacheSize: number;

  constructor(
    private readonly keys: SigningKeys | VerifyingKey,
    private readonly settings: AccessTokenSettings,
    private readonly clock: Clock,
  ) {
    this.#cacheSize = settings.cacheSize ?? 10_000;
  }

  async issue(principal: Principal): Promise<{ token: string; expiresAt: Date }> {
    assertIssuable(principal);
    if (!('privateKey' in this.keys)) {
      throw new TypeError('cannot issue an access token: this process verifies them only');
    }
    const { privateKey } = this.keys;
    const nowSeconds = Math.floor(this.clock.now().getTime() / 1000);
    const expiresAtSeconds = nowSeconds + this.settings.ttlSeconds;
    const token = await new SignJWT({ sid: principal.sessionId })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.keys.kid, typ: 'JWT' })
      .setSubject(principal.userId)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(expiresAtSeconds)
      .setJti(randomUUID())
      .sign(privateKey);
    return { token, expiresAt: new Date(expiresAtSeconds * 1000) };
  }

  /** Verifies a token; every failure is `unauthenticated` with a message saying which. */
  async verify(token: string): Promise<Principal> {
    return (await this.verifyExpiring(token)).principal;
  }

  /** As `verify`, with the token's expiry. */
  async verifyExpiring(token: string): Promise<VerifiedToken> {
    const known = this.#verified.get(token);
    if (known !== undefined) {
      if (this.clock.now().getTime() < known.expiresAtMs) return known;
      this.#verified.delete(token); // expired: the full check below says so
    }
    const verified = await this.#verify(token);
    if (this.#cacheSize > 0) {
      if (this.#verified.size >= this.#cacheSize) {
        const oldest = this.#verified.keys().next();
        if (oldest.done !== true) this.#verified.delete(oldest.value);
      }
      this.#verified.set(token, verified);
    }
    return verified;
  }

  async #verify(token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, this.keys.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        currentDate: this.clock.now(),
        requiredClaims: ['exp'],
      });
      const claims = parseClaims(payload);
      return {
        principal: { userId: claims.sub, sessionId: claims.sid },
        expiresAtMs: claims.exp * 1000,
      };
    } catch (error) {
      throw toUnauthenticated(error);
    }
  }
}

function parseClaims(payload: unknown): z.output<typeof claimsSchema> {
  const result = claimsSchema.safeParse(payload);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const claim = String(issue?.path[0] ?? '');
  throw new DomainError(
    'unauthenticated',
    `access token claim "${claim}" is not valid: ${issue?.message ?? 'wrong shape'}`,
  );
}

/** Issuing a token that verify() would refuse is a bug in the caller: say so at once. */
function assertIssuable(principal: Principal): void {
  const result = principalSchema.safeParse(principal);
  if (result.success) return;
  const [issue] = result.error.issues;
  throw new TypeError(
    `cannot issue an access token: ${String(issue?.path[0])} ${issue?.message ?? 'is not valid'}`,
  );
}

function toUnauthenticated(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (error instanceof errors.JWTExpired) {
    return new DomainError('unauthenticated', 'access token has expired: refresh it and retry');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new DomainError('unauthenticated', 'access token signature is not valid');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new DomainError('unauthenticated', `access token claim "${error.claim}" is not valid`);
  }
  return new DomainError('unauthenticated', 'access token is malformed: expected a signed JWT');
}

/** Reads `authorization: Bearer <token>`; `unauthenticated` when absent or not a bearer token. */
export function bearerToken(authorization: string | null | undefined): string {
  if (authorization === null || authorization === undefined || authorization.trim() === '') {
    throw new DomainError(
      'unauthenticated',
      'missing access token: send "authorization: Bearer <token>" (get one from AuthService/Login)',
    );
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match?.[1] === undefined) {
    throw new DomainError('unauthenticated', 'authorization must be "Bearer <token>"');
  }
  return match[1];
}
