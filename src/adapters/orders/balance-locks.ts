import type { MatchingEngine } from '../../engine/index.js';
import type { Market } from '../../domain/orders/market.js';
import type { OrderCommand } from '../../domain/orders/order-engine.port.js';
import { balanceKey } from '../../domain/orders/balance-ledger.js';
import type { MutableOrder } from './batch-plan.js';

export interface BalanceKey {
  readonly userId: number;
  readonly asset: string;
}

/**
 * Which balance rows a batch locks when it begins (its read statement locks them in key
 * order, `FOR UPDATE`):
 *
 * - `held`: the asset each place or amend may spend (quote for a buy, base for a sell), whose
 *   `available` the batch checks. Its write then also changes rows it did not lock: the makers'
 *   balances, the other asset of each trader, the balance a cancel frees. With one shard that
 *   is safe: the next batch begins only after this one's last write, so nothing waits for it.
 * - `touched`: every balance the batch can change, so its write takes no balance lock of its
 *   own: both assets of the market for every user with a command in the batch and for every
 *   owner of a resting order those commands could trade with (`OrderBook.counterparties`).
 *   Needed when several shards can trade for the same user. Otherwise shard A locks Alice at
 *   its start and then writes Bob's balance (Bob was the maker), while shard B, holding Bob,
 *   writes Alice's: PostgreSQL aborts one of them as a deadlock after `deadlock_timeout`.
 *   When every batch takes all its balance locks at once, in one order, no such cycle can form.
 *
 * Sorted by user, then asset (the statement sorts again, in the database's collation).
 */
export function balanceLocks(input: {
  readonly engine: MatchingEngine;
  readonly open: ReadonlyMap<number, MutableOrder>;
  readonly markets: ReadonlyMap<string, Market>;
  readonly commands: readonly OrderCommand[];
  readonly scope: 'held' | 'touched';
}): BalanceKey[] {
  const keys = new Map<string, BalanceKey>();
  const lock = (userId: number, asset: string) => {
    keys.set(balanceKey(userId, asset), { userId, asset });
  };
  if (input.scope === 'held') {
    for (const command of input.commands) {
      const market = input.markets.get(command.symbol);
      const side = command.kind === 'place' ? command.side : input.open.get(command.orderId)?.side;
      if (market === undefined || command.kind === 'cancel' || side === undefined) continue;
      lock(command.userId, side === 'buy' ? market.quoteAsset : market.baseAsset);
    }
  } else {
    for (const [symbol, users] of usersAffected(input)) {
      const market = input.markets.get(symbol);
      if (market === undefined) continue;
      for (const userId of users) {
        lock(userId, market.baseAsset);
        lock(userId, market.quoteAsset);
      }
    }
  }
  return [...keys.values()].sort(
    (a, b) => a.userId - b.userId || (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0),
  );
}

/** What the commands of one side of a book add up to, as takers. */
interface Takers {
  /** The most aggressive limit among them; undefined once a market order is among them. */
  limit: number | undefined;
  quantity: number;
}

/** Per symbol: the users with a command in the batch and the makers they could trade with. */
function usersAffected(input: {
  readonly engine: MatchingEngine;
  readonly open: ReadonlyMap<number, MutableOrder>;
  readonly commands: readonly OrderCommand[];
}): Map<string, Set<number>> {
  const bySymbol = new Map<string, { users: Set<number>; buy: Takers; sell: Takers }>();
  for (const command of input.commands) {
    let entry = bySymbol.get(command.symbol);
    if (entry === undefined) {
      entry = {
        users: new Set(),
        buy: { limit: -Infinity, quantity: 0 },
        sell: { limit: Infinity, quantity: 0 },
      };
      bySymbol.set(command.symbol, entry);
    }
    entry.users.add(command.userId);
    for (const taker of takersOf(command, input.open, input.commands)) {
      const side = taker.isBuy ? entry.buy : entry.sell;
      side.quantity += taker.quantity;
      if (taker.limit === undefined || side.limit === undefined) side.limit = undefined;
      else
        side.limit = taker.isBuy
          ? Math.max(side.limit, taker.limit)
          : Math.min(side.limit, taker.limit);
    }
  }
  const affected = new Map<string, Set<number>>();
  for (const [symbol, { users, buy, sell }] of bySymbol) {
    const book = input.engine.book(symbol);
    const all = new Set(users);
    if (book !== undefined) {
      if (buy.quantity > 0) book.counterparties(true, buy.limit, buy.quantity, users, all);
      if (sell.quantity > 0) book.counterparties(false, sell.limit, sell.quantity, users, all);
    }
    affected.set(symbol, all);
  }
  return affected;
}

interface Taker {
  readonly isBuy: boolean;
  readonly limit: number | undefined;
  readonly quantity: number;
}

/**
 * How a command can trade: a place, or an amend to a new price (it trades like a place). An
 * amend of an order that is not resting yet can only be of an order its user places in this
 * same batch (a client that guessed the id this batch gives it): it may trade like any of
 * those places, at the amend's price.
 */
function takersOf(
  command: OrderCommand,
  open: ReadonlyMap<number, MutableOrder>,
  batch: readonly OrderCommand[],
): Taker[] {
  if (command.kind === 'place') {
    return [
      {
        isBuy: command.side === 'buy',
        limit: command.type === 'market' ? undefined : command.price,
        quantity: command.quantity,
      },
    ];
  }
  if (command.kind === 'cancel' || command.price === undefined) return [];
  const { price, userId, symbol } = command;
  const order = open.get(command.orderId);
  const targets: readonly { side: 'buy' | 'sell'; quantity: number }[] =
    order === undefined
      ? batch.flatMap((c) =>
          c.kind === 'place' && c.userId === userId && c.symbol === symbol ? [c] : [],
        )
      : [order];
  return targets.map((target) => ({
    isBuy: target.side === 'buy',
    limit: price,
    quantity: command.quantity ?? target.quantity,
  }));
}
