import type { Balance, BalanceReader } from './balance.js';

/** The caller's balances, ordered by asset. */
export class AccountService {
  constructor(private readonly balances: BalanceReader) {}

  getBalances(userId: number): Promise<Balance[]> {
    return this.balances.balances(userId);
  }
}
