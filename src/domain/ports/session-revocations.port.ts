/** A revoked session (refresh-token family): its access tokens are refused until `untilMs`. */
export interface Revocation {
  readonly sessionId: string;
  /** When the last access token the session may have been issued expires (epoch ms). */
  readonly untilMs: number;
}

export interface RevocationBatch {
  readonly revocations: readonly Revocation[];
  /** Pass it to the next `since` to get only what was recorded after this batch. */
  readonly cursor: string;
}

/**
 * The revocations every pod must honour, shared by all of them (Redis; an in-process twin in
 * embedded mode). Pods poll it; nothing reads it per call.
 */
export interface SessionRevocations {
  revoke(revocation: Revocation): Promise<void>;
  /**
   * Revocations recorded after `cursor` ('' for every one still kept), oldest first, at most
   * `limit`. Revocations past their `untilMs` may be dropped by the store at any time.
   */
  since(cursor: string, limit: number): Promise<RevocationBatch>;
}
