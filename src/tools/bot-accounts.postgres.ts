import type { UserRecord, UserRepository } from '../domain/auth/auth.port.js';
import { isDomainError } from '../domain/errors.js';
import type { Postgres } from '../adapters/postgres/index.js';
import type { BalanceTarget, BotAccounts, SimulatorBot, TopUp } from './bot-accounts.js';

/**
 * The password hash of every bot. It is no argon2 hash, so no password verifies against it:
 * a bot is a user that cannot log in. It also tells a bot from a person who registered a bot's
 * name first, whose account the simulator must never trade with.
 */
export const BOT_PASSWORD_HASH = '!market-simulator-bot';

/**
 * Bots as ordinary users (through the users repository, so they get the same rows a
 * registration makes) with large balances. The top-up is the one write outside an engine shard:
 * it is a single conditional upsert on the balance row, and a shard reads balances under
 * `SELECT … FOR UPDATE` in each batch, so the two serialise on the row lock and nothing is lost.
 */
export class PostgresBotAccounts implements BotAccounts {
  constructor(
    private readonly deps: { readonly postgres: Postgres; readonly users: UserRepository },
    private readonly targets: readonly BalanceTarget[],
  ) {}

  async ensure(usernames: readonly string[]): Promise<SimulatorBot[]> {
    const bots: SimulatorBot[] = [];
    for (const username of usernames) {
      const user = await this.#findOrCreate(username);
      if (user.passwordHash === BOT_PASSWORD_HASH) {
        bots.push({ userId: Number(user.id), username: user.username });
      }
    }
    return bots;
  }

  async topUp(bots: readonly SimulatorBot[]): Promise<TopUp[]> {
    const raised: TopUp[] = [];
    for (const bot of bots) {
      const { rows } = await this.deps.postgres.query<{ asset: string; available: string }>(
        `INSERT INTO balances (user_id, asset, available)
         SELECT $1, t.asset, t.amount FROM unnest($2::text[], $3::bigint[]) AS t(asset, amount)
         ON CONFLICT (user_id, asset) DO UPDATE
           SET available = EXCLUDED.available, updated_at = now()
           WHERE balances.available < EXCLUDED.available / 2
         RETURNING asset, available::text`,
        [
          bot.userId,
          this.targets.map((t) => t.asset),
          this.targets.map((t) => t.amount.toString()),
        ],
        // Setting a balance below half its target to the target is safe to repeat.
        { idempotent: true },
      );
      for (const row of rows) {
        raised.push({ userId: bot.userId, asset: row.asset, amount: BigInt(row.available) });
      }
    }
    return raised;
  }

  async #findOrCreate(username: string): Promise<UserRecord> {
    const { users } = this.deps;
    const existing = await users.findByUsername(username);
    if (existing !== undefined) return existing;
    const demoBalances = Object.fromEntries(this.targets.map((t) => [t.asset, t.amount]));
    try {
      return await users.create({ username, passwordHash: BOT_PASSWORD_HASH, demoBalances });
    } catch (error) {
      // Created in the meantime (another process, or a person registering the name).
      if (!isDomainError(error) || error.code !== 'already_exists') throw error;
      const created = await users.findByUsername(username);
      if (created === undefined) throw error;
      return created;
    }
  }
}
