import type {
  EngineCommand,
  EngineEvent,
  MatchingEngine,
  OrderBook,
  OrderDone,
  TradeExecuted,
} from '../../engine/index.js';
import type { RollingTicker, TopOfBook } from '../../domain/market-data/rolling-ticker.js';
import { BalanceLedger, type BalanceDelta } from '../../domain/orders/balance-ledger.js';
import { DomainError } from '../../domain/errors.js';
import { engineRejection } from '../../domain/orders/engine-rejection.js';
import {
  amendHold,
  reservationFor,
  reservePriceFor,
  type AssetAmount,
  type Market,
} from '../../domain/orders/market.js';
import type { OrderCommand } from '../../domain/orders/order-engine.port.js';
import {
  replayMismatch,
  type PlacedWith,
  type StoredPlace,
} from '../../domain/orders/order-replay.js';
import { openStatus, type Fill, type Order, type OrderResult } from '../../domain/orders/order.js';
import {
  bookStream,
  tickerStream,
  tradeStream,
  userStream,
} from '../../domain/streams/stream-names.js';
import { fillReport, orderReport } from '../../shared/orders/order-messages.js';

/**
 * Runs one batch of commands through the in-memory engine and works out everything the batch
 * transaction must write. No I/O: the caller has already locked the balances of every user
 * who places or amends in the batch and passes their `available` amounts in, so checking and
 * reserving here (`BalanceLedger`) cannot race with anyone.
 */

export type MutableOrder = { -readonly [K in keyof Order]: Order[K] };

export interface PlannedCommand {
  readonly command: OrderCommand;
  /** Allocated by PostgreSQL for a place. */
  readonly newOrderId?: number;
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

export const clientKey = (userId: number, clientOrderId: string) =>
  `${userId}\u0000${clientOrderId}`;

type PlaceCommand = OrderCommand & { readonly kind: 'place' };
type ChangeCommand = OrderCommand & { readonly kind: 'cancel' | 'amend' };

const DONE_REASONS: Record<string, string> = {
  filled: 'filled',
  cancelled: 'canceled by the user',
  'ioc-expired': 'the unfilled rest of an immediate-or-cancel order expired',
  'fok-unfilled': 'a fill-or-kill order could not fill completely',
  'self-trade-prevented': 'canceled to prevent a trade with your own order',
};

export function planBatch(input: PlanInput): BatchPlan {
  const planner = new BatchPlanner(input);
  for (const { command, newOrderId } of input.commands) planner.run(command, newOrderId);
  return planner.finish();
}

/** One batch's plan as it is worked out, command after command. */
class BatchPlanner {
  readonly #plan: BatchPlan;
  readonly #ledger: BalanceLedger;
  /** Orders placed in this batch by client key, with the price and quantity they asked for. */
  readonly #placed = new Map<string, { order: MutableOrder; placedWith: PlacedWith }>();
  /** The engine's events of the command being run. */
  readonly #events: EngineEvent[] = [];
  /** The top of each book the batch touches, as it was before the batch's first command. */
  readonly #topBefore = new Map<string, TopOfBook>();
  /** Symbols the batch traded in. */
  readonly #traded = new Set<string>();

  constructor(private readonly input: PlanInput) {
    this.#ledger = new BalanceLedger(input.available);
    this.#plan = {
      outcomes: [],
      inserted: new Map(),
      updated: new Map(),
      fills: [],
      deltas: this.#ledger.deltas,
      messages: [],
      completeMessages: 0,
      touchedSymbols: new Set(),
      closedOwners: [],
      trades: 0,
      now: input.now,
    };
  }

  run(command: OrderCommand, newOrderId: number | undefined): void {
    const market = this.input.markets.get(command.symbol);
    if (market === undefined) throw new RangeError(`symbol ${command.symbol} has no market`);
    const book = this.input.engine.book(command.symbol);
    if (book === undefined) throw new RangeError(`symbol ${command.symbol} has no book`);
    if (!this.#topBefore.has(command.symbol)) this.#topBefore.set(command.symbol, topOf(book));
    this.#plan.outcomes.push(
      command.kind === 'place'
        ? this.#place(command, newOrderId, market, book)
        : this.#change(command, market),
    );
  }

  finish(): BatchPlan {
    tickerUpdates(this.#plan, this.input, this.#topBefore, this.#traded);
    balanceUpdates(this.#plan);
    return this.#plan;
  }

  #place(
    command: PlaceCommand,
    newOrderId: number | undefined,
    market: Market,
    book: OrderBook,
  ): CommandOutcome {
    const key = clientKey(command.userId, command.clientOrderId);
    const repeat = this.#repeat(key, command);
    if (repeat !== undefined) return repeat;
    if (newOrderId === undefined) throw new RangeError('a place needs an allocated order id');
    const reservePrice = reservePriceFor(book, command);
    const hold = reservationFor(market, command.side, reservePrice, command.quantity);
    const refused = this.#execute(command.userId, hold, {
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
    });
    if (refused !== undefined) return refused;
    const { now } = this.input;
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
      createdAt: now,
      updatedAt: now,
    };
    this.#plan.inserted.set(order.id, order);
    this.#placed.set(key, {
      order,
      placedWith: { price: command.price, quantity: command.quantity },
    });
    this.#ledger.reserve(order.userId, hold);
    return this.#apply(order, market);
  }

  /**
   * A place whose client order id is taken, stored or earlier in this batch: the order it
   * placed when it asks for the same one, else `already_exists`. Undefined for a new id.
   */
  #repeat(key: string, command: PlaceCommand): CommandOutcome | undefined {
    const stored = this.input.existing.get(key);
    if (stored !== undefined) {
      const mismatch = replayMismatch(command, stored.result.order, stored.placedWith);
      return mismatch === undefined
        ? { ok: true, replay: stored.result }
        : { ok: false, error: mismatch };
    }
    const earlier = this.#placed.get(key);
    if (earlier === undefined) return undefined;
    // A replay, like a repeat of a stored order: its caller gives its quota unit back.
    const mismatch = replayMismatch(command, earlier.order, earlier.placedWith);
    return mismatch === undefined
      ? { ok: true, replay: replayInBatch(earlier.order, this.#plan.fills) }
      : { ok: false, error: mismatch };
  }

  /** A cancel or an amend of an open order. */
  #change(command: ChangeCommand, market: Market): CommandOutcome {
    const order = this.input.open.get(command.orderId);
    if (order?.userId !== command.userId) {
      // Finished since the caller looked, or not this user's: never reveal which.
      return {
        ok: false,
        error:
          order === undefined
            ? new DomainError(
                'failed_precondition',
                `order ${command.orderId} is no longer open and can no longer change`,
              )
            : new DomainError('not_found', `order ${command.orderId} not found`),
      };
    }
    const { symbol, orderId } = command;
    if (command.kind === 'cancel') {
      return (
        this.#execute(order.userId, undefined, { kind: 'cancel', symbol, orderId }) ??
        this.#apply(order, market)
      );
    }
    const hold = amendHold(
      market,
      order,
      command.price ?? order.price,
      command.quantity ?? order.quantity,
    );
    const refused = this.#execute(order.userId, hold, {
      kind: 'amend',
      symbol,
      orderId,
      ...(command.price === undefined ? {} : { price: command.price }),
      ...(command.quantity === undefined ? {} : { quantity: command.quantity }),
    });
    if (refused !== undefined) return refused;
    const amended = this.#events[0];
    if (amended?.type === 'amended') {
      // Re-reserved at the new price: what it holds is what settlement and release take.
      order.price = amended.price;
      order.reservePrice = amended.price;
      order.quantity = amended.quantity;
      order.priority = amended.priority;
      this.#ledger.reserve(order.userId, hold);
    }
    return this.#apply(order, market);
  }

  /**
   * Checks that the user can hold `hold` more (a command that holds nothing more, a cancel,
   * passes none), then runs the command through the engine, its events into `#events`.
   * Returns the refusal, or undefined when the engine took the command.
   */
  #execute(
    userId: number,
    hold: AssetAmount | undefined,
    command: EngineCommand,
  ): CommandOutcome | undefined {
    const short = hold === undefined ? undefined : this.#ledger.shortfall(userId, hold);
    if (short !== undefined) return { ok: false, error: short };
    this.#events.length = 0;
    this.input.engine.execute(command, this.#events);
    const first = this.#events[0];
    return first?.type === 'rejected'
      ? { ok: false, error: engineRejection(first.code, first.reason) }
      : undefined;
  }

  /** Applies a command's engine events to orders, balances, fills and stream messages. */
  #apply(subject: MutableOrder, market: Market): CommandOutcome {
    const changed = new Set<MutableOrder>([subject]);
    const firstFill = this.#plan.fills.length;
    const levels: { side: string; price: number; quantity: number }[] = [];
    for (const event of this.#events) {
      switch (event.type) {
        case 'trade':
          this.#trade(event, subject, market, changed);
          break;
        case 'rested':
          subject.priority = event.priority;
          this.input.open.set(subject.id, subject);
          break;
        case 'done':
          this.#done(event, subject, market, changed);
          break;
        case 'level':
          levels.push({ side: event.side, price: event.price, quantity: event.quantity });
          break;
        default:
          break;
      }
    }
    this.#touch(subject, changed);
    const traded = this.#plan.fills.slice(firstFill);
    const fills = fillsOf(subject.id, traded);
    for (const order of changed) {
      const own = order === subject ? fills : fillsOf(order.id, traded);
      this.#plan.messages.push({
        stream: userStream(order.userId),
        payload: JSON.stringify({
          type: 'order',
          order: orderReport(order),
          // The fills this change made, so a client sees each of its fills once, in its report.
          ...(own.length === 0 ? {} : { fills: own.map(fillReport) }),
        }),
      });
    }
    const { symbol } = market.spec;
    if (levels.length > 0) {
      this.#plan.messages.push({
        stream: bookStream(symbol),
        // The checksum travels with the delta, so a replay from the log carries it too.
        payload: JSON.stringify({
          type: 'levels',
          levels,
          checksum: this.input.engine.book(symbol)?.checksum(),
        }),
      });
    }
    this.#plan.touchedSymbols.add(symbol);
    return { ok: true, orderId: subject.id, fills };
  }

  #trade(
    trade: TradeExecuted,
    subject: MutableOrder,
    market: Market,
    changed: Set<MutableOrder>,
  ): void {
    const maker = this.#find(trade.makerOrderId, subject);
    const taker = this.#find(trade.takerOrderId, subject);
    const { price, quantity, takerSide } = trade;
    const paid = this.#ledger.settle({
      market,
      price,
      quantity,
      buyer: takerSide === 'buy' ? taker : maker,
      seller: takerSide === 'buy' ? maker : taker,
    });
    maker.filled += quantity;
    taker.filled += quantity;
    for (const order of [maker, taker]) {
      if (order.status === 'new' || order.status === 'partially_filled') {
        order.status = openStatus(order.filled);
      }
      this.#touch(order, changed);
    }
    const { symbol } = market.spec;
    this.#plan.fills.push({
      symbol,
      tradeId: trade.tradeId,
      price,
      quantity,
      takerSide,
      makerOrderId: maker.id,
      takerOrderId: taker.id,
    });
    this.#plan.messages.push({
      stream: tradeStream(symbol),
      payload: JSON.stringify({
        type: 'trade',
        tradeId: trade.tradeId,
        price,
        quantity,
        takerSide,
        timeMs: this.input.now.getTime(),
      }),
    });
    this.#plan.trades += 1;
    const timeMs = this.input.now.getTime();
    this.input.tickers.get(symbol)?.record({ price, quantity, quoteAmount: paid, timeMs });
    this.#traded.add(symbol);
  }

  /** An order is done: it leaves the book, and what it still holds is given back. */
  #done(done: OrderDone, subject: MutableOrder, market: Market, changed: Set<MutableOrder>): void {
    const order = this.#find(done.orderId, subject);
    order.status = done.reason === 'filled' ? 'filled' : 'canceled';
    order.reason = DONE_REASONS[done.reason] ?? done.reason;
    if (done.remaining > 0) {
      const held = reservationFor(market, order.side, order.reservePrice, done.remaining);
      this.#ledger.release(order.userId, held);
    }
    this.input.open.delete(order.id);
    if (!this.#plan.inserted.has(order.id)) this.#plan.closedOwners.push(order.userId);
    this.#touch(order, changed);
  }

  #find(orderId: number, subject: MutableOrder): MutableOrder {
    if (orderId === subject.id) return subject;
    const order = this.input.open.get(orderId);
    if (order === undefined) throw new RangeError(`engine event for unknown order ${orderId}`);
    return order;
  }

  #touch(order: MutableOrder, changed: Set<MutableOrder>): void {
    order.updatedAt = this.input.now;
    changed.add(order);
    if (!this.#plan.inserted.has(order.id)) this.#plan.updated.set(order.id, order);
  }
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

/** The fills of `orderId` among `rows`, from the order's point of view. */
function fillsOf(orderId: number, rows: readonly FillRow[]): Fill[] {
  const own: Fill[] = [];
  for (const row of rows) {
    if (row.makerOrderId !== orderId && row.takerOrderId !== orderId) continue;
    own.push({
      tradeId: row.tradeId,
      orderId,
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
const replayInBatch = (order: MutableOrder, fills: readonly FillRow[]): OrderResult => ({
  order: { ...order },
  fills: fillsOf(order.id, fills),
});
