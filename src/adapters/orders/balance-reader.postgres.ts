import type { Postgres } from '../postgres/index.js';
import type { Balance, BalanceReader } from '../../domain/accounts/balance.js';

export class PostgresBalanceReader implements BalanceReader {
  constructor(private readonly postgres: Postgres) {}

  async balances(userId: number): Promise<Balance[]> {
    const { rows } = await this.postgres.query<{
      asset: string;
      available: string;
      reserved: string;
    }>(
      `SELECT asset, available::text, reserved::text FROM balances WHERE user_id = $1 ORDER BY asset`,
      [userId],
      { idempotent: true },
    );
    return rows.map((row) => ({
      asset: row.asset,
      available: BigInt(row.available),
      reserved: BigInt(row.reserved),
    }));
  }
}
