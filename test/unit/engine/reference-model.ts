import type {
  AmendOrder,
  BookCommand,
  BookSnapshot,
  BookState,
  CancelOrder,
  DoneReason,
  EngineEvent,
  LevelView,
  OpenOrder,
  PlaceOrder,
  RejectCode,
  SelfTradePrevention,
  Side,
  SymbolSpec,
} from '../../../src/engine/index.js';

interface ModelOrder {
  orderId: number;
  ownerId: number;
  side: Side;
  price: number;
  quantity: number;
  filled: number;
  postOnly: boolean;
  priority: number;
}

const remainingOf = (order: ModelOrder): number => order.quantity - order.filled;
const isPositiveSafeInteger = (value: number): boolean => Number.isSafeInteger(value) && value > 0;

/**
 * A deliberately simple order book: one unsorted array of resting orders, searched and sorted
 * from scratch whenever it needs the best one. Slow and obviously right, it is the oracle the
 * property tests compare the real book with. Rejections carry the code only (reason '').
 */
export class ReferenceBook {
  private resting: ModelOrder[] = [];
  private nextTradeId = 1;
  private nextPriority = 1;
  private lastTradePrice = 0;

  constructor(
    private readonly spec: SymbolSpec,
    private readonly stp: SelfTradePrevention = 'cancel-resting',
  ) {}

  execute(command: BookCommand): EngineEvent[] {
    const out: EngineEvent[] = [];
    if (command.kind === 'place') this.place(command, out);
    else if (command.kind === 'cancel') this.cancel(command, out);
    else this.amend(command, out);
    return out;
  }

  snapshot(): BookSnapshot {
    const levels = (side: Side): LevelView[] => {
      const byPrice = new Map<number, number>();
      for (const order of this.resting) {
        if (order.side === side) {
          byPrice.set(order.price, (byPrice.get(order.price) ?? 0) + remainingOf(order));
        }
      }
      return [...byPrice]
        .map(([price, quantity]) => ({ price, quantity }))
        .sort((a, b) => (side === 'buy' ? b.price - a.price : a.price - b.price));
    };
    return { bids: levels('buy'), asks: levels('sell') };
  }

  openOrders(): OpenOrder[] {
    return this.resting.map((order) => ({ ...order })).sort((a, b) => a.priority - b.priority);
  }

  state(): BookState {
    return {
      nextTradeId: this.nextTradeId,
      nextPriority: this.nextPriority,
      lastTradePrice: this.lastTradePrice,
    };
  }

  private reject(
    out: EngineEvent[],
    command: 'place' | 'cancel' | 'amend',
    id: number,
    code: RejectCode,
  ): void {
    out.push({ type: 'rejected', command, orderId: id, code, reason: '' });
  }

  private band(): { low: number; high: number } | undefined {
    const band = this.spec.priceBand;
    if (band === undefined) return undefined;
    const reference = this.lastTradePrice > 0 ? this.lastTradePrice : (band.referencePrice ?? 0);
    if (reference <= 0) return undefined;
    const deviation = Number((BigInt(reference) * BigInt(band.maxDeviationBps)) / 10_000n);
    return { low: reference - deviation, high: reference + deviation };
  }

  private quantityCode(quantity: number): RejectCode | undefined {
    if (!isPositiveSafeInteger(quantity)) return 'invalid-quantity';
    if (quantity % this.spec.lotSize !== 0) return 'lot-size';
    if (quantity < this.spec.minQuantity) return 'quantity-below-min';
    if (quantity > this.spec.maxQuantity) return 'quantity-above-max';
    return undefined;
  }

  private priceCode(price: number): RejectCode | undefined {
    if (!isPositiveSafeInteger(price)) return 'invalid-price';
    if (price % this.spec.tickSize !== 0) return 'tick-size';
    const band = this.band();
    if (band !== undefined && (price < band.low || price > band.high)) return 'price-out-of-band';
    return undefined;
  }

  /** Opposite orders that `side` at `limit` could trade with, best first, then by priority. */
  private candidates(side: Side, limit: number): ModelOrder[] {
    return this.resting
      .filter((order) =>
        side === 'buy'
          ? order.side === 'sell' && order.price <= limit
          : order.side === 'buy' && order.price >= limit,
      )
      .sort((a, b) =>
        a.price !== b.price
          ? side === 'buy'
            ? a.price - b.price
            : b.price - a.price
          : a.priority - b.priority,
      );
  }

  private wouldTake(side: Side, price: number): boolean {
    return this.candidates(side, price).length > 0;
  }

  private placeRejection(command: PlaceOrder): RejectCode | undefined {
    const { orderId, ownerId, side, type, timeInForce } = command;
    const postOnly = command.postOnly === true;
    if (!isPositiveSafeInteger(orderId)) return 'invalid-order-id';
    if (!isPositiveSafeInteger(ownerId)) return 'invalid-owner-id';
    if (!['buy', 'sell'].includes(side)) return 'invalid-side';
    if (!['limit', 'market'].includes(type)) return 'invalid-order-type';
    if (!['GTC', 'IOC', 'FOK'].includes(timeInForce)) return 'invalid-time-in-force';
    if (type === 'market' && timeInForce === 'GTC') return 'invalid-time-in-force';
    if (postOnly && (type === 'market' || timeInForce !== 'GTC')) return 'invalid-post-only';
    if (this.resting.some((order) => order.orderId === orderId)) return 'duplicate-order-id';
    const quantityCode = this.quantityCode(command.quantity);
    if (quantityCode !== undefined) return quantityCode;
    if (type === 'market') return undefined;
    const priceCode = this.priceCode(command.price);
    if (priceCode !== undefined) return priceCode;
    if (postOnly && this.wouldTake(side, command.price)) return 'post-only-would-take';
    return undefined;
  }

  private place(command: PlaceOrder, out: EngineEvent[]): void {
    const { orderId, ownerId, side, type, timeInForce, quantity } = command;
    const code = this.placeRejection(command);
    if (code !== undefined) {
      this.reject(out, 'place', orderId, code);
      return;
    }
    const postOnly = command.postOnly === true;
    const price = type === 'market' ? 0 : command.price;
    out.push({
      type: 'accepted',
      orderId,
      ownerId,
      side,
      orderType: type,
      timeInForce,
      price,
      quantity,
      postOnly,
    });
    const band = this.band();
    const limit =
      type === 'limit'
        ? price
        : side === 'buy'
          ? (band?.high ?? Number.POSITIVE_INFINITY)
          : (band?.low ?? Number.NEGATIVE_INFINITY);
    if (timeInForce === 'FOK' && !this.canFill(side, limit, ownerId, quantity)) {
      out.push(this.done(orderId, ownerId, 'fok-unfilled', 0, quantity));
      return;
    }
    const order: ModelOrder = {
      orderId,
      ownerId,
      side,
      price,
      quantity,
      filled: 0,
      postOnly,
      priority: 0,
    };
    const stopped = this.match(order, limit, out);
    if (remainingOf(order) === 0) {
      out.push(this.done(orderId, ownerId, 'filled', order.filled, 0));
    } else if (stopped) {
      out.push(
        this.done(orderId, ownerId, 'self-trade-prevented', order.filled, remainingOf(order)),
      );
    } else if (timeInForce === 'GTC') {
      order.priority = this.nextPriority++;
      this.resting.push(order);
      out.push({
        type: 'rested',
        orderId,
        side,
        price,
        remaining: remainingOf(order),
        priority: order.priority,
      });
    } else {
      out.push(this.done(orderId, ownerId, 'ioc-expired', order.filled, remainingOf(order)));
    }
  }

  private canFill(side: Side, limit: number, ownerId: number, quantity: number): boolean {
    let available = 0;
    for (const maker of this.candidates(side, limit)) {
      if (maker.ownerId === ownerId) {
        if (this.stp !== 'cancel-resting') return false;
        continue;
      }
      available += remainingOf(maker);
      if (available >= quantity) return true;
    }
    return false;
  }

  private match(taker: ModelOrder, limit: number, out: EngineEvent[]): boolean {
    for (;;) {
      if (remainingOf(taker) === 0) return false;
      const maker = this.candidates(taker.side, limit)[0];
      if (maker === undefined) return false;
      if (maker.ownerId === taker.ownerId) {
        if (this.stp !== 'cancel-incoming') {
          this.remove(maker);
          out.push(
            this.done(
              maker.orderId,
              maker.ownerId,
              'self-trade-prevented',
              maker.filled,
              remainingOf(maker),
            ),
          );
        }
        if (this.stp !== 'cancel-resting') return true;
        continue;
      }
      const quantity = Math.min(remainingOf(taker), remainingOf(maker));
      maker.filled += quantity;
      taker.filled += quantity;
      this.lastTradePrice = maker.price;
      out.push({
        type: 'trade',
        tradeId: this.nextTradeId++,
        price: maker.price,
        quantity,
        takerSide: taker.side,
        makerOrderId: maker.orderId,
        makerOwnerId: maker.ownerId,
        makerRemaining: remainingOf(maker),
        takerOrderId: taker.orderId,
        takerOwnerId: taker.ownerId,
        takerRemaining: remainingOf(taker),
      });
      if (remainingOf(maker) === 0) {
        this.remove(maker);
        out.push(this.done(maker.orderId, maker.ownerId, 'filled', maker.filled, 0));
      }
    }
  }

  private cancel(command: CancelOrder, out: EngineEvent[]): void {
    const order = this.resting.find((o) => o.orderId === command.orderId);
    if (order === undefined) {
      this.reject(out, 'cancel', command.orderId, 'unknown-order');
      return;
    }
    this.remove(order);
    out.push(
      this.done(order.orderId, order.ownerId, 'cancelled', order.filled, remainingOf(order)),
    );
  }

  private amendRejection(
    command: AmendOrder,
    order: ModelOrder | undefined,
  ): RejectCode | undefined {
    if (order === undefined) return 'unknown-order';
    const quantity = command.quantity ?? order.quantity;
    const price = command.price ?? order.price;
    if (quantity !== order.quantity) {
      const code = this.quantityCode(quantity);
      if (code !== undefined) return code;
    }
    if (price !== order.price) {
      const code = this.priceCode(price);
      if (code !== undefined) return code;
    }
    if (quantity === order.quantity && price === order.price) return 'amend-no-change';
    if (quantity <= order.filled) return 'amend-below-filled';
    if (order.postOnly && price !== order.price && this.wouldTake(order.side, price)) {
      return 'post-only-would-take';
    }
    return undefined;
  }

  private amend(command: AmendOrder, out: EngineEvent[]): void {
    const { orderId } = command;
    const order = this.resting.find((o) => o.orderId === orderId);
    const code = this.amendRejection(command, order);
    if (code !== undefined || order === undefined) {
      this.reject(out, 'amend', orderId, code ?? 'unknown-order');
      return;
    }
    const quantity = command.quantity ?? order.quantity;
    const price = command.price ?? order.price;
    const remaining = quantity - order.filled;
    if (price === order.price) {
      const keepsPriority = remaining <= remainingOf(order);
      if (!keepsPriority) order.priority = this.nextPriority++;
      order.quantity = quantity;
      out.push({
        type: 'amended',
        orderId,
        price,
        quantity,
        remaining,
        priorityKept: keepsPriority,
        priority: order.priority,
      });
      return;
    }
    this.remove(order);
    order.price = price;
    order.quantity = quantity;
    order.priority = this.nextPriority++;
    out.push({
      type: 'amended',
      orderId,
      price,
      quantity,
      remaining,
      priorityKept: false,
      priority: order.priority,
    });
    const stopped = this.match(order, price, out);
    if (remainingOf(order) === 0) {
      out.push(this.done(orderId, order.ownerId, 'filled', order.filled, 0));
    } else if (stopped) {
      out.push(
        this.done(orderId, order.ownerId, 'self-trade-prevented', order.filled, remainingOf(order)),
      );
    } else {
      this.resting.push(order);
    }
  }

  private remove(order: ModelOrder): void {
    this.resting = this.resting.filter((o) => o !== order);
  }

  private done(
    orderId: number,
    ownerId: number,
    reason: DoneReason,
    filled: number,
    remaining: number,
  ): EngineEvent {
    return { type: 'done', orderId, ownerId, reason, filled, remaining };
  }
}
