import { DomainError } from '../errors.js';
import type { AccessTokens, Principal, VerifiedToken } from './access-tokens.js';
import type { RevokedSessions } from './revoked-sessions.js';

export const SESSION_REVOKED =
  'the session of this access token was ended (logout, or its refresh token was reused): log in again';

export interface TokenVerifierDeps {
  readonly accessTokens: AccessTokens;
  /** Sessions ended since their tokens were issued; unset: none are checked. */
  readonly revokedSessions?: RevokedSessions;
}

/**
 * Admits a caller by its access token: the signature (the public key suffices) and that its
 * session was not revoked since. All a process needs that serves users without signing them in
 * (ROLE=stream); `Authentication` issues the tokens.
 */
export class TokenVerifier {
  readonly #deps: TokenVerifierDeps;

  constructor(deps: TokenVerifierDeps) {
    this.#deps = deps;
  }

  /** Verifies the access token of a call, and that its session was not revoked since. */
  async authenticate(accessToken: string): Promise<Principal> {
    const principal = await this.#deps.accessTokens.verify(accessToken);
    this.assertActive(principal);
    return principal;
  }

  /** As `authenticate`, with the token's expiry: for streams that outlive it. */
  async authenticateExpiring(accessToken: string): Promise<VerifiedToken> {
    const verified = await this.#deps.accessTokens.verifyExpiring(accessToken);
    this.assertActive(verified.principal);
    return verified;
  }

  /** Throws `unauthenticated` if the principal's session was revoked since its token was issued. */
  assertActive(principal: Principal): void {
    if (this.#deps.revokedSessions?.isRevoked(principal.sessionId) === true) {
      throw new DomainError('unauthenticated', SESSION_REVOKED);
    }
  }

  /** Calls `onRevoked` when the session is revoked (an open stream ends); returns the unwatch. */
  watchRevocation(sessionId: string, onRevoked: () => void): () => void {
    return this.#deps.revokedSessions?.watch(sessionId, onRevoked) ?? (() => undefined);
  }

  /** Stops polling for revocations. */
  close(): void {
    this.#deps.revokedSessions?.close();
  }
}
