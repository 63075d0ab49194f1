/** What the auth use cases need from storage; PostgreSQL implements it, tests may too. */

export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string;
}

export interface NewUser {
  readonly username: string;
  readonly passwordHash: string;
  /** Granted at registration so the platform can be tried at once, in minor units per asset. */
  readonly demoBalances: Readonly<Record<string, bigint>>;
}

export interface UserRepository {
  /** Creates the user and its demo balances atomically; `already_exists` if the name is taken. */
  create(user: NewUser): Promise<UserRecord>;
  /** Case-insensitive. */
  findByUsername(username: string): Promise<UserRecord | undefined>;
}

export interface RefreshTokenRecord {
  readonly id: string;
  readonly userId: string;
  readonly familyId: string;
  readonly expiresAt: Date;
  readonly usedAt: Date | undefined;
  readonly revokedAt: Date | undefined;
}

export interface NewRefreshToken {
  readonly userId: string;
  readonly familyId: string;
  readonly tokenHash: string;
  readonly expiresAt: Date;
}

export interface RefreshTokenRepository {
  insert(token: NewRefreshToken): Promise<void>;
  findByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Marks the token used and inserts its successor, atomically, only if the token is still
   * unused and unrevoked. False means another request used it first: a reuse.
   */
  rotate(id: string, usedAt: Date, successor: NewRefreshToken): Promise<boolean>;
  /** Revokes every token of the family; resolves to how many were still live. */
  revokeFamily(familyId: string, at: Date): Promise<number>;
  /** Families with a live (unused, unrevoked, unexpired) token: the active sessions. */
  countActiveFamilies(now: Date): Promise<number>;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}
