import type { LevelView } from '../../engine/index.js';
import type { Balance } from '../accounts/balance.js';

/**
 * States of streams as of a seq of theirs, from where the truth is kept (the engine's committed
 * orders and balances): where a stream pod starts a book replica or a private stream.
 */
export interface StreamSnapshots {
  /** Every level of `symbol`'s book (any order), as of seq `seq` of `book.<symbol>`. */
  book(symbol: string): Promise<{ seq: number; bids: LevelView[]; asks: LevelView[] }>;
  /** The user's balances as of seq `seq` of `orders.<userId>`. */
  balances(userId: number): Promise<{ seq: number; balances: Balance[] }>;
}
