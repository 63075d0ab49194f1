import { BookOrder } from './book-order.js';
import { BookSide } from './book-side.js';
import { bookChecksum, CHECKSUM_DEPTH } from './checksum.js';
import {
  accepted,
  amended,
  done,
  levelChanged,
  rested,
  trade,
  type CommandRejected,
  type EngineEvent,
} from './events.js';
import {
  amendBelowFilled,
  amendNoChange,
  checkOrderFields,
  duplicateOrderId,
  postOnlyWouldTake,
  unknownOrder,
} from './order-checks.js';
import type { PriceLevel } from './price-level.js';
import { OrderIndex } from './order-index.js';
import { restoreOrders } from './restore.js';
import { SymbolRules } from './symbol-rules.js';
import type {
  AmendOrder,
  BookCommand,
  BookSnapshot,
  BookState,
  CancelOrder,
  LevelView,
  OpenOrder,
  OrderBookOptions,
  PlaceOrder,
  SelfTradePrevention,
  Side,
  SymbolSpec,
} from './types.js';

const INITIAL_STATE: BookState = { nextTradeId: 1, nextPriority: 1, lastTradePrice: 0 };

/**
 * The order book of one symbol: price-time priority matching of limit and market orders.
 * Every command appends its events, in order, to `out` (a fresh array unless one is passed,
 * which lets a hot loop reuse one). The same commands on the same book always produce the
 * same events, so a book rebuilt with `restore` replays exactly like the original.
 */
export class OrderBook {
  readonly symbol: string;
  private readonly rules: SymbolRules;
  private readonly selfTradePrevention: SelfTradePrevention;
  private readonly emitLevelChanges: boolean;
  private readonly bids = new BookSide('buy');
  private readonly asks = new BookSide('sell');
  private readonly orders = new OrderIndex();
  private readonly orderPool: BookOrder[] = [];
  private nextTradeId: number;
  private nextPriority: number;
  private lastTradePrice: number;
  // Level-change tracking: the command number and the levels it touched (with their price
  // then, as an emptied level may be reused for another price), in first-touch order. The
  // arrays are only overwritten, never truncated, which keeps this off the allocator.
  private command = 0;
  private readonly touchedLevels: PriceLevel[] = [];
  private readonly touchedPrices: number[] = [];
  private touchedCount = 0;

  constructor(spec: SymbolSpec, options: OrderBookOptions = {}, state: BookState = INITIAL_STATE) {
    this.rules = new SymbolRules(spec);
    this.symbol = spec.symbol;
    this.selfTradePrevention = options.selfTradePrevention ?? 'cancel-resting';
    this.emitLevelChanges = options.emitLevelChanges ?? false;
    this.nextTradeId = state.nextTradeId;
    this.nextPriority = state.nextPriority;
    this.lastTradePrice = state.lastTradePrice;
  }

  /**
   * Rebuilds a book from its open orders (any order; they are replayed by `priority`) and the
   * state saved with them. Throws on data that no book could have produced.
   */
  static restore(
    spec: SymbolSpec,
    options: OrderBookOptions,
    openOrders: readonly OpenOrder[],
    state: BookState,
  ): OrderBook {
    const book = new OrderBook(spec, options, state);
    for (const open of restoreOrders(openOrders, state)) book.restOpenOrder(open);
    const bid = book.bids.best();
    const ask = book.asks.best();
    if (bid !== undefined && ask !== undefined && bid.price >= ask.price) {
      throw new RangeError(
        `restore ${spec.symbol}: crossed book, bid ${bid.price} >= ask ${ask.price}`,
      );
    }
    return book;
  }

  execute(command: BookCommand, out: EngineEvent[] = []): EngineEvent[] {
    switch (command.kind) {
      case 'place':
        return this.place(command, out);
      case 'cancel':
        return this.cancel(command, out);
      case 'amend':
        return this.amend(command, out);
    }
  }

  place(command: PlaceOrder, out: EngineEvent[] = []): EngineEvent[] {
    this.command += 1;
    const rejection = this.checkPlace(command);
    if (rejection !== undefined) {
      out.push(rejection);
      return out;
    }
    const { orderId, ownerId, side, type, timeInForce, quantity } = command;
    const isBuy = side === 'buy';
    const isMarket = type === 'market';
    const postOnly = command.postOnly === true;
    const price = isMarket ? 0 : command.price;
    out.push(accepted(orderId, ownerId, side, type, timeInForce, price, quantity, postOnly));

    const limit = !isMarket
      ? price
      : isBuy
        ? this.rules.marketBuyLimit(this.lastTradePrice)
        : this.rules.marketSellLimit(this.lastTradePrice);
    if (timeInForce === 'FOK' && !this.canFill(isBuy, limit, ownerId, quantity)) {
      // Checked before any side effect, so an unfillable FOK leaves the book untouched.
      out.push(done(orderId, ownerId, 'fok-unfilled', 0, quantity));
      return out;
    }

    const order = this.orderPool.pop() ?? new BookOrder();
    order.orderId = orderId;
    order.ownerId = ownerId;
    order.isBuy = isBuy;
    order.price = price;
    order.quantity = quantity;
    order.filled = 0;
    order.remaining = quantity;
    order.postOnly = postOnly;
    order.priority = 0;
    const stopped = this.match(order, limit, out);
    if (order.remaining === 0) {
      out.push(done(orderId, ownerId, 'filled', order.filled, 0));
      this.orderPool.push(order);
    } else if (stopped) {
      out.push(done(orderId, ownerId, 'self-trade-prevented', order.filled, order.remaining));
      this.orderPool.push(order);
    } else if (timeInForce === 'GTC') {
      order.priority = this.nextPriority++;
      this.orders.add(order);
      this.rest(order);
      out.push(rested(orderId, side, price, order.remaining, order.priority));
    } else {
      out.push(done(orderId, ownerId, 'ioc-expired', order.filled, order.remaining));
      this.orderPool.push(order);
    }
    if (this.emitLevelChanges) this.flushLevelChanges(out);
    return out;
  }

  cancel(command: CancelOrder, out: EngineEvent[] = []): EngineEvent[] {
    this.command += 1;
    const { orderId } = command;
    const order = this.orders.get(orderId);
    if (order === undefined) {
      out.push(unknownOrder('cancel', orderId, this.symbol));
      return out;
    }
    this.removeResting(order);
    out.push(done(orderId, order.ownerId, 'cancelled', order.filled, order.remaining));
    this.orderPool.push(order);
    if (this.emitLevelChanges) this.flushLevelChanges(out);
    return out;
  }

  /**
   * Changes price and/or total quantity. Quantity down keeps time priority; quantity up or a
   * new price loses it, and a new price that crosses the book trades like an incoming order.
   */
  amend(command: AmendOrder, out: EngineEvent[] = []): EngineEvent[] {
    this.command += 1;
    const { orderId } = command;
    const order = this.orders.get(orderId);
    if (order === undefined) {
      out.push(unknownOrder('amend', orderId, this.symbol));
      return out;
    }
    const rejection = this.checkAmend(command, order);
    if (rejection !== undefined) {
      out.push(rejection);
      return out;
    }
    const price = command.price ?? order.price;
    const quantity = command.quantity ?? order.quantity;
    const remaining = quantity - order.filled;
    const level = levelOf(order);
    const side = order.isBuy ? this.bids : this.asks;

    if (price === order.price) {
      const keepsPriority = remaining <= order.remaining;
      if (keepsPriority) {
        level.quantity += remaining - order.remaining;
        order.remaining = remaining;
      } else {
        // Losing priority at the same price: move to the back of the same level's queue.
        level.unlink(order);
        order.remaining = remaining;
        level.append(order);
        order.priority = this.nextPriority++;
      }
      order.quantity = quantity;
      this.markChanged(level);
      out.push(amended(orderId, price, quantity, remaining, keepsPriority, order.priority));
    } else {
      this.unlinkFromLevel(order, side, level);
      order.price = price;
      order.quantity = quantity;
      order.remaining = remaining;
      order.priority = this.nextPriority++;
      out.push(amended(orderId, price, quantity, remaining, false, order.priority));
      const stopped = this.match(order, price, out);
      if (order.remaining === 0 || stopped) {
        this.orders.delete(orderId);
        const reason = order.remaining === 0 ? 'filled' : 'self-trade-prevented';
        out.push(done(orderId, order.ownerId, reason, order.filled, order.remaining));
        this.orderPool.push(order);
      } else {
        this.rest(order);
      }
    }
    if (this.emitLevelChanges) this.flushLevelChanges(out);
    return out;
  }

  bestBid(): number | undefined {
    return this.bids.best()?.price;
  }

  bestAsk(): number | undefined {
    return this.asks.best()?.price;
  }

  get openOrderCount(): number {
    return this.orders.size;
  }

  /**
   * Adds to `into` the owners of the resting orders that incoming orders on one side, at
   * `limit` or better (undefined: market orders, no limit), could trade with: the opposite
   * side best first, until the open quantity of orders not owned by `excluded` reaches
   * `quantity`. Orders of `excluded` owners are listed but not counted, since self-trade
   * prevention may cancel them instead of filling them. With `quantity` the total of every
   * incoming order on that side, and `excluded` their owners, this is a superset of the makers
   * those orders trade with in any order: liquidity that one takes only sends the next deeper.
   */
  counterparties(
    isBuy: boolean,
    limit: number | undefined,
    quantity: number,
    excluded: ReadonlySet<number>,
    into: Set<number>,
  ): void {
    const book = isBuy ? this.asks : this.bids;
    let needed = quantity;
    for (let index = 0; needed > 0; index++) {
      const level = book.fromBest(index);
      if (level === undefined) return;
      if (limit !== undefined && (isBuy ? level.price > limit : level.price < limit)) return;
      for (let maker = level.head; maker !== null && needed > 0; maker = maker.next) {
        into.add(maker.ownerId);
        if (!excluded.has(maker.ownerId)) needed -= maker.remaining;
      }
    }
  }

  /** The top `depth` levels of each side, best first. */
  snapshot(depth = CHECKSUM_DEPTH): BookSnapshot {
    return { bids: this.topLevels(this.bids, depth), asks: this.topLevels(this.asks, depth) };
  }

  /** CRC32 of the top 10 levels, in the format of docs/protocol.md. */
  checksum(): number {
    return bookChecksum(this.snapshot(CHECKSUM_DEPTH));
  }

  order(orderId: number): OpenOrder | undefined {
    const order = this.orders.get(orderId);
    return order === undefined ? undefined : toOpenOrder(order);
  }

  /** Every open order, in time priority. With `state()`, enough to `restore` the book. */
  openOrders(): OpenOrder[] {
    return this.orders
      .orders()
      .map(toOpenOrder)
      .sort((a, b) => a.priority - b.priority);
  }

  state(): BookState {
    return {
      nextTradeId: this.nextTradeId,
      nextPriority: this.nextPriority,
      lastTradePrice: this.lastTradePrice,
    };
  }

  private checkPlace(command: PlaceOrder): CommandRejected | undefined {
    const malformed = checkOrderFields(command);
    if (malformed !== undefined) return malformed;
    const { orderId } = command;
    if (this.orders.has(orderId)) return duplicateOrderId(orderId, this.symbol);
    const badQuantity = this.rules.checkQuantity('place', orderId, command.quantity);
    if (badQuantity !== undefined) return badQuantity;
    if (command.type === 'market') return undefined;
    const { price } = command;
    const badPrice = this.rules.checkPrice('place', orderId, price, this.lastTradePrice);
    if (badPrice !== undefined) return badPrice;
    const isBuy = command.side === 'buy';
    if (command.postOnly === true && this.wouldTake(isBuy, price)) {
      return postOnlyWouldTake('place', orderId, isBuy, price, this.oppositeBest(isBuy));
    }
    return undefined;
  }

  private checkAmend(command: AmendOrder, order: BookOrder): CommandRejected | undefined {
    const { orderId } = command;
    const quantity = command.quantity ?? order.quantity;
    const price = command.price ?? order.price;
    if (quantity !== order.quantity) {
      const badQuantity = this.rules.checkQuantity('amend', orderId, quantity);
      if (badQuantity !== undefined) return badQuantity;
    }
    if (price !== order.price) {
      const badPrice = this.rules.checkPrice('amend', orderId, price, this.lastTradePrice);
      if (badPrice !== undefined) return badPrice;
    }
    if (quantity === order.quantity && price === order.price) {
      return amendNoChange(orderId, price, quantity);
    }
    if (quantity <= order.filled) return amendBelowFilled(orderId, quantity, order.filled);
    if (order.postOnly && price !== order.price && this.wouldTake(order.isBuy, price)) {
      return postOnlyWouldTake(
        'amend',
        orderId,
        order.isBuy,
        price,
        this.oppositeBest(order.isBuy),
      );
    }
    return undefined;
  }

  /** The best opposite price an order of this side meets; 0 on an empty side. */
  private oppositeBest(isBuy: boolean): number {
    return (isBuy ? this.asks : this.bids).best()?.price ?? 0;
  }

  private wouldTake(isBuy: boolean, price: number): boolean {
    if (isBuy) {
      const ask = this.asks.best();
      return ask !== undefined && ask.price <= price;
    }
    const bid = this.bids.best();
    return bid !== undefined && bid.price >= price;
  }

  /**
   * Whether an incoming order could fill `quantity` right now, counting only what it would
   * actually trade with: the owner's own resting orders are cancelled or stop it, never fill it.
   */
  private canFill(isBuy: boolean, limit: number, ownerId: number, quantity: number): boolean {
    const book = isBuy ? this.asks : this.bids;
    const stopsAtOwn = this.selfTradePrevention !== 'cancel-resting';
    let needed = quantity;
    for (let index = 0; ; index++) {
      const level = book.fromBest(index);
      if (level === undefined || (isBuy ? level.price > limit : level.price < limit)) return false;
      for (let maker = level.head; maker !== null; maker = maker.next) {
        if (maker.ownerId !== ownerId) {
          needed -= maker.remaining;
          if (needed <= 0) return true;
        } else if (stopsAtOwn) {
          return false;
        }
      }
    }
  }

  /**
   * Trades `taker` against the opposite side while it crosses `limit`, best price first and
   * FIFO within a price. Returns true when self-trade prevention stopped the taker.
   */
  private match(taker: BookOrder, limit: number, out: EngineEvent[]): boolean {
    const isBuy = taker.isBuy;
    const book = isBuy ? this.asks : this.bids;
    const takerSide: Side = isBuy ? 'buy' : 'sell';
    const stp = this.selfTradePrevention;
    for (;;) {
      const level = book.best();
      if (level === undefined || (isBuy ? level.price > limit : level.price < limit)) return false;
      this.markChanged(level);
      let maker = level.head;
      while (maker !== null) {
        const next = maker.next;
        if (maker.ownerId === taker.ownerId) {
          if (stp !== 'cancel-incoming') {
            level.unlink(maker);
            this.orders.delete(maker.orderId);
            out.push(
              done(
                maker.orderId,
                maker.ownerId,
                'self-trade-prevented',
                maker.filled,
                maker.remaining,
              ),
            );
            this.orderPool.push(maker);
          }
          if (stp !== 'cancel-resting') {
            if (level.count === 0) book.remove(level);
            return true;
          }
        } else {
          const quantity = taker.remaining < maker.remaining ? taker.remaining : maker.remaining;
          maker.remaining -= quantity;
          maker.filled += quantity;
          taker.remaining -= quantity;
          taker.filled += quantity;
          level.quantity -= quantity;
          this.lastTradePrice = level.price;
          out.push(
            trade(
              this.nextTradeId++,
              level.price,
              quantity,
              takerSide,
              maker.orderId,
              maker.ownerId,
              maker.remaining,
              taker.orderId,
              taker.ownerId,
              taker.remaining,
            ),
          );
          if (maker.remaining === 0) {
            level.unlink(maker);
            this.orders.delete(maker.orderId);
            out.push(done(maker.orderId, maker.ownerId, 'filled', maker.filled, 0));
            this.orderPool.push(maker);
          }
          if (taker.remaining === 0) {
            if (level.count === 0) book.remove(level);
            return false;
          }
        }
        maker = next;
      }
      book.remove(level);
    }
  }

  private rest(order: BookOrder): void {
    const side = order.isBuy ? this.bids : this.asks;
    const level = side.getOrCreate(order.price);
    level.append(order);
    this.markChanged(level);
  }

  private restOpenOrder(open: OpenOrder): void {
    const order = new BookOrder();
    order.orderId = open.orderId;
    order.ownerId = open.ownerId;
    order.isBuy = open.side === 'buy';
    order.price = open.price;
    order.quantity = open.quantity;
    order.filled = open.filled;
    order.remaining = open.quantity - open.filled;
    order.postOnly = open.postOnly;
    order.priority = open.priority;
    this.orders.add(order);
    // Not `rest`: rebuilding is not a command, so it must not report level changes.
    (order.isBuy ? this.bids : this.asks).getOrCreate(order.price).append(order);
  }

  private removeResting(order: BookOrder): void {
    this.orders.delete(order.orderId);
    this.unlinkFromLevel(order, order.isBuy ? this.bids : this.asks, levelOf(order));
  }

  private unlinkFromLevel(order: BookOrder, side: BookSide, level: PriceLevel): void {
    this.markChanged(level);
    level.unlink(order);
    if (level.count === 0) side.remove(level);
  }

  private markChanged(level: PriceLevel): void {
    if (!this.emitLevelChanges || level.stamp === this.command) return;
    level.stamp = this.command;
    this.touchedLevels[this.touchedCount] = level;
    this.touchedPrices[this.touchedCount] = level.price;
    this.touchedCount += 1;
  }

  private flushLevelChanges(out: EngineEvent[]): void {
    for (let i = 0; i < this.touchedCount; i++) {
      const level = this.touchedLevels[i];
      const price = this.touchedPrices[i];
      if (level === undefined || price === undefined) continue;
      // A level still on the book has orders; a removed or reused one reports 0 for `price`.
      const onBook = level.price === price && level.count > 0;
      out.push(levelChanged(level.side, price, onBook ? level.quantity : 0));
    }
    this.touchedCount = 0;
  }

  private topLevels(side: BookSide, depth: number): LevelView[] {
    const levels: LevelView[] = [];
    for (let i = 0; i < depth; i++) {
      const level = side.fromBest(i);
      if (level === undefined) break;
      levels.push({ price: level.price, quantity: level.quantity });
    }
    return levels;
  }
}

/** A resting order always has a level; null here is a bug in the book, not bad input. */
function levelOf(order: BookOrder): PriceLevel {
  const { level } = order;
  if (level === null) throw new Error(`order ${order.orderId} is open but on no price level`);
  return level;
}

function toOpenOrder(order: BookOrder): OpenOrder {
  return {
    orderId: order.orderId,
    ownerId: order.ownerId,
    side: order.isBuy ? 'buy' : 'sell',
    price: order.price,
    quantity: order.quantity,
    filled: order.filled,
    postOnly: order.postOnly,
    priority: order.priority,
  };
}
