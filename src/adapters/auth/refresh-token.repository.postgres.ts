import type {
  NewRefreshToken,
  RefreshTokenRecord,
  RefreshTokenRepository,
} from '../../domain/auth/auth.port.js';
import type { Postgres, Queryable } from '../postgres/index.js';

interface TokenRow {
  id: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

const insert = (db: Queryable, token: NewRefreshToken) =>
  db.query(
    'INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)',
    [token.userId, token.familyId, token.tokenHash, token.expiresAt],
  );

export class PostgresRefreshTokenRepository implements RefreshTokenRepository {
  constructor(private readonly db: Postgres) {}

  async insert(token: NewRefreshToken): Promise<void> {
    await insert(this.db, token);
  }

  async findByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const { rows } = await this.db.query<TokenRow>(
      'SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1',
      [tokenHash],
      { idempotent: true },
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      id: row.id,
      userId: row.user_id,
      familyId: row.family_id,
      expiresAt: new Date(row.expires_at),
      usedAt: row.used_at === null ? undefined : new Date(row.used_at),
      revokedAt: row.revoked_at === null ? undefined : new Date(row.revoked_at),
    };
  }

  rotate(id: string, usedAt: Date, successor: NewRefreshToken): Promise<boolean> {
    return this.db.withTransaction(async (tx) => {
      // The conditional UPDATE is the arbiter: of two concurrent refreshes, one wins.
      const { rowCount } = await tx.query(
        'UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL',
        [id, usedAt],
      );
      if (rowCount !== 1) return false;
      await insert(tx, successor);
      return true;
    });
  }

  async revokeFamily(familyId: string, at: Date): Promise<number> {
    const { rowCount } = await this.db.query(
      'UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL',
      [familyId, at],
    );
    return rowCount ?? 0;
  }

  async countActiveFamilies(now: Date): Promise<number> {
    const { rows } = await this.db.query<{ count: string }>(
      `SELECT count(DISTINCT family_id) AS count FROM refresh_tokens
        WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1`,
      [now],
      { idempotent: true },
    );
    return Number(rows[0]?.count ?? 0);
  }
}
