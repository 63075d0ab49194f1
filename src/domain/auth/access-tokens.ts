import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import type { Clock } from '../clock.js';
import { DomainError } from '../errors.js';

/** Who made a call, as proven by a verified access token. */
export interface Principal {
  readonly userId: string;
  /** The refresh-token family the access token was issued under. */
  readonly sessionId: string;
}

export interface SigningKeys {
  readonly privateKey: CryptoKey | KeyObject;
  readonly publicKey: CryptoKey | KeyObject;
  /** Key id, so keys can be rotated while old tokens are still valid. */
  readonly kid: string;
}

export interface AccessTokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

const ALGORITHM = 'EdDSA';

/** Short-lived signed JWTs (Ed25519): any pod can verify one with the public key alone. */
export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly settings: AccessTokenSettings,
    private readonly clock: Clock,
  ) {}

  async issue(principal: Principal): Promise<{ token: string; expiresAt: Date }> {
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
      .sign(this.keys.privateKey);
    return { token, expiresAt: new Date(expiresAtSeconds * 1000) };
  }

  /** Verifies a token; every failure is `unauthenticated` with a message saying which. */
  async verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.keys.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        currentDate: this.clock.now(),
        requiredClaims: ['sub', 'exp', 'sid'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new DomainError('unauthenticated', 'access token is missing its subject or session');
      }
      return { userId: payload.sub, sessionId: payload.sid };
    } catch (error) {
      throw toUnauthenticated(error);
    }
  }
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
