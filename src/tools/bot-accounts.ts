import { baseAmount, quoteAmount, type Market } from '../domain/orders/market.js';

/** A simulator bot: an ordinary user that nobody can log in as. */
export interface SimulatorBot {
  readonly userId: number;
  readonly username: string;
}

/** What a bot should hold of one asset, in minor units. */
export interface BalanceTarget {
  readonly asset: string;
  readonly amount: bigint;
}

export interface TopUp {
  readonly userId: number;
  readonly asset: string;
  readonly amount: bigint;
}

/** What the simulator needs from storage to have bots that can trade. */
export interface BotAccounts {
  /**
   * The bots with these usernames, created (with their target balances) when missing.
   * Idempotent. A username taken by someone who is not a bot is left out of the answer.
   */
  ensure(usernames: readonly string[]): Promise<SimulatorBot[]>;
  /** Raises every balance below half its target back to the target; answers what it raised. */
  topUp(bots: readonly SimulatorBot[]): Promise<TopUp[]>;
}

export const botUsername = (index: number): string => `sim-bot-${index}`;

/**
 * Balances for this many of the largest, most expensive orders per asset: a bot's holdings only
 * drift as bots trade with each other, so it takes a very long run to need a top-up.
 */
const HEADROOM_ORDERS = 10_000n;

/** Per asset, enough for `HEADROOM_ORDERS` of the largest simulated order of any market. */
export function balanceTargets(
  markets: readonly {
    readonly market: Market;
    readonly maxPrice: number;
    readonly maxQuantity: number;
  }[],
): BalanceTarget[] {
  const targets = new Map<string, bigint>();
  const atLeast = (asset: string, amount: bigint) => {
    const current = targets.get(asset) ?? 0n;
    if (amount > current) targets.set(asset, amount);
  };
  for (const { market, maxPrice, maxQuantity } of markets) {
    atLeast(market.quoteAsset, quoteAmount(market, maxPrice, maxQuantity) * HEADROOM_ORDERS);
    atLeast(market.baseAsset, baseAmount(market, maxQuantity) * HEADROOM_ORDERS);
  }
  return [...targets].map(([asset, amount]) => ({ asset, amount }));
}
