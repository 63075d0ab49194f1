import type { EngineEvent, MatchingEngine, OrderBook, TradeExecuted } from '../../engine/index.js';
import { formatAmount } from '../../domain/accounts/asset-amount.js';
import type { RollingTicker, TopOfBook } from '../../domain/market-data/rolling-ticker.js';
import { DomainError } from '../../domain/errors.js';
import { engineRejection } from '../../domain/orders/engine-rejection.js';
import {
  baseAmount,
  quoteAmount,
  reservationFor,
  type Market,
} from '../../domain/orders/market.js';
import type { OrderCommand } from '../../domain/orders/order-engine.port.js';
import {
  replayMismatch,
  type PlacedWith,
  type StoredPlace,
} from '../../domain/orders/order-replay.js';
import { openStatus, type Fill, type Order, type OrderResult } from '../../domain/orders/order.js';
import { tickerStream } from '../../domain/streams/stream-names.js';

/**
 * Runs one batch of commands through the in-memory engine and works out everything the batch
 * transaction must write. No I/O: the caller has already locked the balances of every user
 * who places or amends in the batch and passes their `available` amounts in, so checking and
 * reserving here cannot race with anyone.
 */

export type MutableOrder = { -readonly [K in keyof Order]: Order[K] };

export interface PlannedCommand {
  readonly command: OrderCommand;
  /** Allocated by PostgreSQL for a place. */
  readonly newOrderId?: number;
}

export interface BalanceDelta {
  readonly userId: number;
  readonly asset: string;
  available: bigint;
  reserved: bigint;
}

export interface FillRow {
  readonly symbol: string;
  readonly tradeId: number;
  readonly price: number;
  readonly quantity: number;
  readonly takerSide: string;
  readonly makerOrderId: number;
  readonly takerOrderId: number;
}

export interface StreamMessage {
  readonly stream: string;
  /** A JSON document: the write passes a batch's payloads to PostgreSQL as one JSON array. */
  readonly payload: string;
}

export type CommandOutcome =
  | { readonly ok: true; readonly orderId: number; readonly fills: Fill[] }
  | { readonly ok: true; readonly replay: OrderResult }
  | { readonly ok: false; readonly error: DomainError };

export interface BatchPlan {
  readonly outcomes: CommandOutcome[];
  readonly inserted: Map<number, MutableOrder>;
  readonly updated: Map<number, MutableOrder>;
  readonly fills: FillRow[];
  readonly deltas: Map<string, BalanceDelta>;
  readonly messages: StreamMessage[];
  /**
   * How many of `messages` the plan wrote whole; the rest are one balance update per user whose
   * balances changed, whose payloads the write fills in with the new amounts (`balanceUpdates`).
   */
  completeMessages: number;
  readonly touchedSymbols: Set<string>;
  /** Owners of orders that were open before this batch and are done now, one entry each. */
  readonly closedOwners: number[];
  trades: number;
  /** The batch's time: its trades' time, and the end of the tickers' 24-hour window. */
  readonly now: Date;
}

export interface PlanInput {
  readonly engine: MatchingEngine;
  /** Open orders of this shard by id; updated in place as orders rest and finish. */
  readonly open: Map<number, MutableOrder>;
  readonly markets: ReadonlyMap<string, Market>;
  /** `available` of the locked balances, by `balanceKey`. Missing means 0. */
  readonly available: Map<string, bigint>;
  /** Orders already stored under a (user, client order id) of this batch, by `clientKey`. */
  readonly existing: ReadonlyMap<string, StoredPlace>;
  readonly commands: readonly PlannedCommand[];
  readonly now: Date;
  /** Each symbol's ticker; the batch's trades are recorded in them. */
  readonly tickers: ReadonlyMap<string, RollingTicker>;
  /**
   * Symbols whose ticker the batch publishes even if it does not change them: the window
   * rolled, or the shard was (re)started and publishes what it restored.
   */
  readonly dueTickers: ReadonlySet<string>;
}

export const balanceKey = (userId: number, asset: string) => `${userId}\u0000${asset}`;
export const clientKey = (userId: number, clientOrderId: string) =>
  `${userId}\u0000${clientOrderId}`;

export const userStream = (userId: number) => `orders.${userId}`;
export const tradeStream = (symbol: string) => `trades.${symbol}`;
export const bookStream = (symbol: string) => `book.${symbol}`;

const DONE_REASONS: Record<string, string> = {
  filled: 'filled',
  cancelled: 'canceled by the user',
  'ioc-expired': 'the unfilled rest of an immediate-or-cancel order expired',
  'fok-unfilled': 'a fill-or-kill order could not fill completely',
  'self-trade-prevented': 'canceled to prevent a trade with your own order',
};

const publicOrder = (order: MutableOrder) => ({
  orderId: String(order.id),
  clientOrderId: order.clientOrderId,
  symbol: order.symbol,
  side: order.side,
  type: order.type,
  price: order.price,
  quantity: order.quantity,
  filled: order.filled,
  status: order.status,
  reason: order.reason,
});

export function planBatch(input: PlanInput): BatchPlan {
  const plan: BatchPlan = {
    outcomes: [],
    inserted: new Map(),
    updated: new Map(),
    fills: [],
    deltas: new Map(),
    messages: [],
    completeMessages: 0,
    touchedSymbols: new Set(),
    closedOwners: [],
    trades: 0,
    now: input.now,
  };
  /** The top of each book the batch touches, as it was before the batch's first command. */
  const topBefore = new Map<string, TopOfBook>();
  const traded = new Set<string>();
  /** Orders placed in this batch by client key, with the price and quantity they asked for. */
  const placedInBatch = new Map<string, { order: MutableOrder; placedWith: PlacedWith }>();
  const events: EngineEvent[] = [];

  const shift = (userId: number, asset: string, available: bigint, reserved: bigint) => {
    const key = balanceKey(userId, asset);
    const delta = plan.deltas.get(key);
    if (delta === undefined) plan.deltas.set(key, { userId, asset, available, reserved });
    else {
      delta.available += available;
      delta.reserved += reserved;
    }
    const current = input.available.get(key);
    if (current !== undefined) input.available.set(key, current + available);
  };

  const hasAvailable = (userId: number, asset: string, amount: bigint): DomainError | undefined => {
    const have = input.available.get(balanceKey(userId, asset)) ?? 0n;
    return amount <= have
      ? undefined
      : new DomainError(
          'failed_precondition',
          `insufficient ${asset}: the order needs ${formatAmount(amount, asset)} available, you have ${formatAmount(have, asset)}`,
        );
  };

  const marketOf = (symbol: string): Market => {
    const market = input.markets.get(symbol);
    if (market === undefined) throw new RangeError(`symbol ${symbol} has no market`);
    return market;
  };

  const touch = (order: MutableOrder, changed: Set<MutableOrder>) => {
    order.updatedAt = input.now;
    changed.add(order);
    if (!plan.inserted.has(order.id)) plan.updated.set(order.id, order);
  };

  /** Applies one command's engine events to orders, balances, fills and stream messages. */
  const apply = (subject: MutableOrder, market: Market, fills: Fill[]) => {
    const changed = new Set<MutableOrder>([subject]);
    const firstFill = plan.fills.length;
    const levels: { side: string; price: number; quantity: number }[] = [];
    const find = (orderId: number): MutableOrder => {
      if (orderId === subject.id) return subject;
      const order = input.open.get(orderId);
      if (order === undefined) throw new RangeError(`engine event for unknown order ${orderId}`);
      return order;
    };
    for (const event of events) {
      switch (event.type) {
        case 'trade': {
          settle(event, find(event.makerOrderId), find(event.takerOrderId), market, changed);
          fills.push({
            tradeId: event.tradeId,
            orderId: subject.id,
            price: event.price,
            quantity: event.quantity,
            maker: event.makerOrderId === subject.id,
          });
          break;
        }
        case 'rested': {
          subject.priority = event.priority;
          input.open.set(subject.id, subject);
          break;
        }
        case 'done': {
          const order = find(event.orderId);
          order.status = event.reason === 'filled' ? 'filled' : 'canceled';
          order.reason = DONE_REASONS[event.reason] ?? event.reason;
          if (event.remaining > 0) {
            const held = reservationFor(market, order.side, order.reservePrice, event.remaining);
            shift(order.userId, held.asset, held.amount, -held.amount);
          }
          input.open.delete(order.id);
          if (!plan.inserted.has(order.id)) plan.closedOwners.push(order.userId);
          touch(order, changed);
          break;
        }
        case 'level':
          levels.push({ side: event.side, price: event.price, quantity: event.quantity });
          break;
        default:
          break;
      }
    }
    touch(subject, changed);
    const traded = plan.fills.slice(firstFill);
    for (const order of changed) {
      plan.messages.push({
        stream: userStream(order.userId),
        payload: JSON.stringify({
          type: 'order',
          order: publicOrder(order),
          // The fills this change made, so a client sees each of its fills once, in its report.
          ...(traded.length === 0 ? {} : { fills: fillsOf(order.id, traded) }),
        }),
      });
    }
    if (levels.length > 0) {
      plan.messages.push({
        stream: bookStream(market.spec.symbol),
        // The checksum travels with the delta, so a replay from the log carries it too.
        payload: JSON.stringify({
          type: 'levels',
          levels,
          checksum: input.engine.book(market.spec.symbol)?.checksum(),
        }),
      });
    }
  };

  const settle = (
    trade: TradeExecuted,
    maker: MutableOrder,
    taker: MutableOrder,
    market: Market,
    changed: Set<MutableOrder>,
  ) => {
    const buyer = trade.takerSide === 'buy' ? taker : maker;
    const seller = trade.takerSide === 'buy' ? maker : taker;
    const { price, quantity } = trade;
    const held = quoteAmount(market, buyer.reservePrice, quantity);
    const paid = quoteAmount(market, price, quantity);
    const base = baseAmount(market, quantity);
    // The buyer reserved at its reserve price and pays the maker's price: the difference is
    // returned. The engine trades at the maker's price, never above a buyer's reserve price.
    shift(buyer.userId, market.quoteAsset, held - paid, -held);
    shift(buyer.userId, market.baseAsset, base, 0n);
    shift(seller.userId, market.baseAsset, 0n, -base);
    shift(seller.userId, market.quoteAsset, paid, 0n);
    maker.filled += quantity;
    taker.filled += quantity;
    for (const order of [maker, taker]) {
      if (order.status === 'new' || order.status === 'partially_filled') {
        order.status = openStatus(order.filled);
      }
      touch(order, changed);
    }
    plan.fills.push({
      symbol: market.spec.symbol,
      tradeId: trade.tradeId,
      price,
      quantity,
      takerSide: trade.takerSide,
      makerOrderId: maker.id,
      takerOrderId: taker.id,
    });
    plan.messages.push({
      stream: tradeStream(market.spec.symbol),
      payload: JSON.stringify({
        type: 'trade',
        tradeId: trade.tradeId,
        price,
        quantity,
        takerSide: trade.takerSide,
        timeMs: input.now.getTime(),
      }),
    });
    plan.trades += 1;
    input.tickers
      .get(market.spec.symbol)
      ?.record({ price, quantity, quoteAmount: paid, timeMs: input.now.getTime() });
    traded.add(market.spec.symbol);
  };

  const rejectionOf = (): DomainError | undefined => {
    const first = events[0];
    return first?.type === 'rejected' ? engineRejection(first.code, first.reason) : undefined;
  };

  for (const { command, newOrderId } of input.commands) {
    events.length = 0;
    const market = marketOf(command.symbol);
    const book = input.engine.book(command.symbol);
    if (book === undefined) throw new RangeError(`symbol ${command.symbol} has no book`);
    if (!topBefore.has(command.symbol)) topBefore.set(command.symbol, topOf(book));
    if (command.kind === 'place') {
      const key = clientKey(command.userId, command.clientOrderId);
      const stored = input.existing.get(key);
      if (stored !== undefined) {
        const mismatch = replayMismatch(command, stored.result.order, stored.placedWith);
        plan.outcomes.push(
          mismatch === undefined
            ? { ok: true, replay: stored.result }
            : { ok: false, error: mismatch },
        );
        continue;
      }
      const earlier = placedInBatch.get(key);
      if (earlier !== undefined) {
        // A replay, like a repeat of a stored order: its caller gives its quota unit back.
        const mismatch = replayMismatch(command, earlier.order, earlier.placedWith);
        plan.outcomes.push(
          mismatch === undefined
            ? { ok: true, replay: replayInBatch(earlier.order, plan.fills) }
            : { ok: false, error: mismatch },
        );
        continue;
      }
      if (newOrderId === undefined) throw new RangeError('a place needs an allocated order id');
      const reservePrice =
        command.type === 'limit'
          ? command.price
          : command.side === 'buy'
            ? worstAskPrice(book, command.quantity)
            : 0;
      const need = reservationFor(market, command.side, reservePrice, command.quantity);
      const short = hasAvailable(command.userId, need.asset, need.amount);
      if (short !== undefined) {
        plan.outcomes.push({ ok: false, error: short });
        continue;
      }
      input.engine.execute(
        {
          kind: 'place',
          symbol: command.symbol,
          orderId: newOrderId,
          ownerId: command.userId,
          side: command.side,
          type: command.type,
          timeInForce: command.timeInForce,
          price: command.price,
          quantity: command.quantity,
          postOnly: command.postOnly,
        },
        events,
      );
      const rejection = rejectionOf();
      if (rejection !== undefined) {
        plan.outcomes.push({ ok: false, error: rejection });
        continue;
      }
      const order: MutableOrder = {
        id: newOrderId,
        userId: command.userId,
        clientOrderId: command.clientOrderId,
        symbol: command.symbol,
        side: command.side,
        type: command.type,
        timeInForce: command.timeInForce,
        price: command.price,
        reservePrice,
        quantity: command.quantity,
        filled: 0,
        status: 'new',
        postOnly: command.postOnly,
        reason: '',
        priority: 0,
        createdAt: input.now,
        updatedAt: input.now,
      };
      plan.inserted.set(order.id, order);
      placedInBatch.set(key, {
        order,
        placedWith: { price: command.price, quantity: command.quantity },
      });
      shift(command.userId, need.asset, -need.amount, need.amount);
      const fills: Fill[] = [];
      apply(order, market, fills);
      plan.touchedSymbols.add(command.symbol);
      plan.outcomes.push({ ok: true, orderId: order.id, fills });
      continue;
    }

    const order = input.open.get(command.orderId);
    if (order?.userId !== command.userId) {
      // Finished since the caller looked, or not this user's: never reveal which.
      plan.outcomes.push({
        ok: false,
        error:
          order === undefined
            ? new DomainError(
                'failed_precondition',
                `order ${command.orderId} is no longer open and can no longer change`,
              )
            : new DomainError('not_found', `order ${command.orderId} not found`),
      });
      continue;
    }
    if (command.kind === 'cancel') {
      input.engine.execute(
        { kind: 'cancel', symbol: command.symbol, orderId: command.orderId },
        events,
      );
    } else {
      const price = command.price ?? order.price;
      const quantity = command.quantity ?? order.quantity;
      if (quantity > order.filled) {
        const before = reservationFor(
          market,
          order.side,
          order.reservePrice,
          order.quantity - order.filled,
        );
        const after = reservationFor(market, order.side, price, quantity - order.filled);
        const extra = after.amount - before.amount;
        const short = extra > 0n ? hasAvailable(order.userId, after.asset, extra) : undefined;
        if (short !== undefined) {
          plan.outcomes.push({ ok: false, error: short });
          continue;
        }
      }
      input.engine.execute(
        {
          kind: 'amend',
          symbol: command.symbol,
          orderId: command.orderId,
          ...(command.price === undefined ? {} : { price: command.price }),
          ...(command.quantity === undefined ? {} : { quantity: command.quantity }),
        },
        events,
      );
      const first = events[0];
      if (first?.type === 'amended') {
        const before = reservationFor(
          market,
          order.side,
          order.reservePrice,
          order.quantity - order.filled,
        );
        order.price = first.price;
        order.reservePrice = first.price;
        order.quantity = first.quantity;
        order.priority = first.priority;
        const after = reservationFor(
          market,
          order.side,
          order.reservePrice,
          order.quantity - order.filled,
        );
        const extra = after.amount - before.amount;
        shift(order.userId, after.asset, -extra, extra);
      }
    }
    const rejection = rejectionOf();
    if (rejection !== undefined) {
      plan.outcomes.push({ ok: false, error: rejection });
      continue;
    }
    const fills: Fill[] = [];
    apply(order, market, fills);
    plan.touchedSymbols.add(command.symbol);
    plan.outcomes.push({ ok: true, orderId: order.id, fills });
  }
  tickerUpdates(plan, input, topBefore, traded);
  balanceUpdates(plan);
  return plan;
}

/**
 * One ticker per symbol whose ticker the batch changed (a trade, a new best bid or ask) or that
 * is due, after the batch's trades and book changes. Whole: the last one is a snapshot.
 */
function tickerUpdates(
  plan: BatchPlan,
  input: PlanInput,
  topBefore: ReadonlyMap<string, TopOfBook>,
  traded: ReadonlySet<string>,
): void {
  const symbols = new Set([...input.dueTickers, ...traded, ...topBefore.keys()]);
  for (const symbol of symbols) {
    const book = input.engine.book(symbol);
    const ticker = input.tickers.get(symbol);
    if (book === undefined || ticker === undefined) continue;
    const top = topOf(book);
    const before = topBefore.get(symbol);
    const moved = before !== undefined && !sameTop(before, top);
    if (!moved && !traded.has(symbol) && !input.dueTickers.has(symbol)) continue;
    const figures = ticker.figures(input.now.getTime(), top);
    plan.messages.push({
      stream: tickerStream(symbol),
      payload: JSON.stringify({
        type: 'ticker',
        ...figures,
        quoteVolume: figures.quoteVolume.toString(),
      }),
    });
  }
}

function topOf(book: OrderBook): TopOfBook {
  const { bids, asks } = book.snapshot(1);
  return {
    bidPrice: bids[0]?.price ?? 0,
    bidQuantity: bids[0]?.quantity ?? 0,
    askPrice: asks[0]?.price ?? 0,
    askQuantity: asks[0]?.quantity ?? 0,
  };
}

const sameTop = (a: TopOfBook, b: TopOfBook): boolean =>
  a.bidPrice === b.bidPrice &&
  a.bidQuantity === b.bidQuantity &&
  a.askPrice === b.askPrice &&
  a.askQuantity === b.askQuantity;

/**
 * One balance update per user whose balances this batch changed, after the batch's execution
 * reports on the user's stream. Its payload names the user only: the new amounts are known in
 * the write, which adds the deltas and puts them in the same outbox row (no extra round trip).
 */
function balanceUpdates(plan: BatchPlan): void {
  plan.completeMessages = plan.messages.length;
  const users = new Set<number>();
  for (const delta of plan.deltas.values()) {
    if (delta.available !== 0n || delta.reserved !== 0n) users.add(delta.userId);
  }
  for (const userId of users) {
    plan.messages.push({ stream: userStream(userId), payload: balancesPlaceholder(userId) });
  }
}

/** What the write replaces with `{"type":"balances","balances":[…]}` (shard-store.postgres.ts). */
export const balancesPlaceholder = (userId: number) => `{"userId":${userId}}`;

/** The fills of `orderId` among `rows`, as execution reports carry them. */
function fillsOf(orderId: number, rows: readonly FillRow[]) {
  const own = [];
  for (const row of rows) {
    if (row.makerOrderId !== orderId && row.takerOrderId !== orderId) continue;
    own.push({
      tradeId: row.tradeId,
      price: row.price,
      quantity: row.quantity,
      maker: row.makerOrderId === orderId,
    });
  }
  return own;
}

/**
 * An order placed earlier in the batch as it stands at this point of the batch, as a stored
 * order would be read: a copy (later commands change the live one), with its fills so far.
 */
function replayInBatch(order: MutableOrder, fills: readonly FillRow[]): OrderResult {
  const own = fills.filter((f) => f.makerOrderId === order.id || f.takerOrderId === order.id);
  return {
    order: { ...order },
    fills: own.map((f) => ({
      tradeId: f.tradeId,
      orderId: order.id,
      price: f.price,
      quantity: f.quantity,
      maker: f.makerOrderId === order.id,
    })),
  };
}

/**
 * The highest ask price a market buy of `quantity` lots can reach: the price of the level at
 * which the asks' cumulative quantity covers it (or the last level). With self-trade
 * prevention `cancel-incoming` a buy stops at its own order instead of reaching deeper, so it
 * never trades above this price and reserving `quantity × price` always covers it.
 */
function worstAskPrice(book: OrderBook, quantity: number): number {
  let covered = 0;
  let price = 0;
  for (const level of book.snapshot(Number.MAX_SAFE_INTEGER).asks) {
    price = level.price;
    covered += level.quantity;
    if (covered >= quantity) break;
  }
  return price;
}
