import type { NewUser, UserRecord, UserRepository } from '../../domain/auth/auth.port.js';
import { DomainError } from '../../domain/errors.js';
import type { Postgres } from '../postgres/index.js';
import { sqlStateOf } from '../postgres/index.js';

const UNIQUE_VIOLATION = '23505';

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
}

const toRecord = (row: UserRow): UserRecord => ({
  id: row.id,
  username: row.username,
  passwordHash: row.password_hash,
});

export class PostgresUserRepository implements UserRepository {
  constructor(private readonly db: Postgres) {}

  async create(user: NewUser): Promise<UserRecord> {
    try {
      return await this.db.withTransaction(async (tx) => {
        const { rows } = await tx.query<UserRow>(
          'INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING id, username, password_hash',
          [user.username, user.passwordHash],
        );
        const row = rows[0];
        if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
        for (const [asset, amount] of Object.entries(user.demoBalances)) {
          await tx.query('INSERT INTO balances (user_id, asset, available) VALUES ($1, $2, $3)', [
            row.id,
            asset,
            amount.toString(),
          ]);
        }
        return toRecord(row);
      });
    } catch (error) {
      if (sqlStateOf(error) === UNIQUE_VIOLATION) {
        throw new DomainError('already_exists', `username "${user.username}" is taken`, {
          field: 'username',
        });
      }
      throw error;
    }
  }

  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const { rows } = await this.db.query<UserRow>(
      'SELECT id, username, password_hash FROM users WHERE lower(username) = lower($1)',
      [username],
      { idempotent: true },
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }
}
