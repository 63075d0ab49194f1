/** A user's holding of one asset, in minor units. */
export interface Balance {
  readonly asset: string;
  /** Free to use. */
  readonly available: bigint;
  /** Held by open orders. */
  readonly reserved: bigint;
}

/** Committed balances; reads only (the engine shards are the writers). */
export interface BalanceReader {
  balances(userId: number): Promise<Balance[]>;
}
