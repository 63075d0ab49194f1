/**
 * Stream sessions across pods: who a session belongs to, which streams it follows and which pod
 * served it last (a change is a migration). Positions are not kept here: the client owns them,
 * so a pod killed without warning loses nothing. Redis in production, in process otherwise.
 */
export interface SessionRecord {
  readonly id: string;
  /** The owner; undefined for a public market-data session. */
  readonly userId: number | undefined;
  readonly pod: string;
  readonly streams: readonly string[];
  readonly updatedAtMs: number;
  /**
   * When the access token of a private session's streams expires (ms since the epoch); a
   * `Reauthenticate` on any pod moves it later, and every pod's streams read it at expiry.
   */
  readonly tokenExpiresAtMs?: number;
}

export interface SessionStore {
  get(id: string): Promise<SessionRecord | undefined>;
  /** Stores the record, replacing any with its id; it expires `ttlSeconds` after this. */
  put(record: SessionRecord, ttlSeconds: number): Promise<void>;
}
