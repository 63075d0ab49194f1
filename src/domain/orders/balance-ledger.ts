import { formatAmount } from '../accounts/asset-amount.js';
import { DomainError } from '../errors.js';
import { baseAmount, quoteAmount, type AssetAmount, type Market } from './market.js';

/** A balance row (user, asset) as a map key. */
export const balanceKey = (userId: number, asset: string) => `${userId}\u0000${asset}`;

/** What a batch adds to one balance row's `available` and `reserved` (minor units). */
export interface BalanceDelta {
  readonly userId: number;
  readonly asset: string;
  available: bigint;
  reserved: bigint;
}

/** A trade as settlement sees it: who bought and sold, how many lots, at what price. */
export interface Settlement {
  readonly market: Market;
  /** The maker's price, at which the engine trades (never above the buyer's reserve price). */
  readonly price: number;
  readonly quantity: number;
  readonly buyer: { readonly userId: number; readonly reservePrice: number };
  readonly seller: { readonly userId: number };
}

/**
 * The balance rules of one batch, applied to the balances it locked: every command is checked
 * against what its user has available at that point of the batch, and every change is kept as
 * a delta for the batch's write. Pure: the batch read the `available` amounts with the rows
 * locked, so no one else can change them until it commits.
 *
 * - An accepted order holds what it may spend (`reserve`): quote for a buy, base for a sell.
 * - A trade settles at the maker's price (`settle`): the buyer pays from what it held at its
 *   reserve price and gets the difference back, and receives the base; the seller's held base
 *   goes to the buyer and the seller receives the quote.
 * - What a done order still holds is given back (`release`).
 */
export class BalanceLedger {
  /** By `balanceKey`, in the order the batch first changed each row. */
  readonly deltas = new Map<string, BalanceDelta>();

  /**
   * @param available `available` of the locked rows by `balanceKey` (missing means 0); kept
   *   current as the batch spends and receives, so a later command sees what an earlier left.
   */
  constructor(private readonly available: Map<string, bigint>) {}

  /** Why `userId` cannot hold `holding` more, or undefined when it can (or holds nothing more). */
  shortfall(userId: number, holding: AssetAmount): DomainError | undefined {
    const { asset, amount } = holding;
    const have = this.available.get(balanceKey(userId, asset)) ?? 0n;
    if (amount <= have) return undefined;
    return new DomainError(
      'failed_precondition',
      `insufficient ${asset}: the order needs ${formatAmount(amount, asset)} available, you have ${formatAmount(have, asset)}`,
    );
  }

  /** Moves `holding` from available to reserved (a negative amount moves it back). */
  reserve(userId: number, holding: AssetAmount): void {
    this.#move(userId, holding.asset, -holding.amount, holding.amount);
  }

  /** Moves `holding` from reserved back to available. */
  release(userId: number, holding: AssetAmount): void {
    this.#move(userId, holding.asset, holding.amount, -holding.amount);
  }

  /** Settles a trade; returns what the buyer paid (minor units of the quote asset). */
  settle({ market, price, quantity, buyer, seller }: Settlement): bigint {
    const held = quoteAmount(market, buyer.reservePrice, quantity);
    const paid = quoteAmount(market, price, quantity);
    const base = baseAmount(market, quantity);
    this.#move(buyer.userId, market.quoteAsset, held - paid, -held);
    this.#move(buyer.userId, market.baseAsset, base, 0n);
    this.#move(seller.userId, market.baseAsset, 0n, -base);
    this.#move(seller.userId, market.quoteAsset, paid, 0n);
    return paid;
  }

  #move(userId: number, asset: string, available: bigint, reserved: bigint): void {
    const key = balanceKey(userId, asset);
    const delta = this.deltas.get(key);
    if (delta === undefined) this.deltas.set(key, { userId, asset, available, reserved });
    else {
      delta.available += available;
      delta.reserved += reserved;
    }
    // Only rows the batch locked are tracked: a command never spends from any other.
    const current = this.available.get(key);
    if (current !== undefined) this.available.set(key, current + available);
  }
}
