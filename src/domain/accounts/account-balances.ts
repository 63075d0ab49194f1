import type { Balance, BalanceReader } from './balance.js';

/** Reads a user's balances, ordered by asset. */
export class AccountBalances {
  constructor(private readonly balances: BalanceReader) {}

  getBalances(userId: number): Promise<Balance[]> {
    return this.balances.balances(userId);
  }
}
