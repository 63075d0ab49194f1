import type { Logger, Registry } from '../../telemetry/index.js';
import { DomainError, isDomainError, type DomainErrorCode } from '../errors.js';
import { parseRequest } from '../validation.js';
import type { Market } from './market.js';
import type { OpenOrderQuota } from './open-order-quota.js';
import { isOpen, type Order, type OrderResult, type PlacedOrder } from './order.js';
import type { OrderEngine } from './order-engine.port.js';
import type { OrderReader } from './order-reader.port.js';
import { replayMismatch } from './order-replay.js';
import {
  amendOrderSchema,
  checkPrice,
  checkQuantity,
  listOrdersSchema,
  orderIdSchema,
  parsePlaceOrder,
  type AmendOrderRequest,
  type ListOrdersRequest,
  type PlaceOrderInput,
  type PlaceOrderRequest,
} from './order-requests.js';
import { orderMetrics, type PlaceResult } from './orders.metrics.js';

export interface OrderDeskDeps {
  readonly engine: OrderEngine;
  readonly reader: OrderReader;
  readonly markets: ReadonlyMap<string, Market>;
  /** Absent: no limit on open orders. */
  readonly quota?: OpenOrderQuota;
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface OrderPage {
  readonly orders: readonly Order[];
  /** Empty when there is no further page. */
  readonly nextPageToken: string;
}

const DEFAULT_PAGE_SIZE = 50;

/** A user's own orders only: someone else's order is `not_found`, never its data. */
const notFound = (orderId: number) =>
  new DomainError('not_found', `order ${orderId} not found`, { field: 'order_id' });

/** Client errors: the caller's request, not the platform, was at fault. */
const REJECTED: ReadonlySet<DomainErrorCode> = new Set<DomainErrorCode>([
  'invalid_argument',
  'failed_precondition',
  'already_exists',
]);

const placeResult = (error: unknown): PlaceResult =>
  isDomainError(error) && REJECTED.has(error.code) ? 'rejected' : 'failed';

/**
 * Takes a user's orders: places, cancels and amends them on the engine (after validation and the
 * open-order quota), and reads them back. Only the caller's own orders. Transport-free.
 */
export class OrderDesk {
  readonly #metrics;

  constructor(private readonly deps: OrderDeskDeps) {
    this.#metrics = orderMetrics(deps.registry);
  }

  async place(userId: number, request: PlaceOrderRequest): Promise<PlacedOrder> {
    const side = request.side ?? 'unspecified';
    const type = request.type ?? 'unspecified';
    try {
      const { input } = parsePlaceOrder(this.deps.markets, request);
      // Only a GTC limit order can rest, so only it needs an open-order unit.
      const quota =
        input.type === 'limit' && input.timeInForce === 'GTC' ? this.deps.quota : undefined;
      if (quota !== undefined) {
        const replay = await this.#takeOrReplay(quota, userId, input);
        if (replay !== undefined) {
          this.#metrics.placed(side, type, 'replayed');
          return { ...replay, replayed: true };
        }
      }
      let submitted;
      try {
        // No read before submitting: the shard looks the client order id up inside its batch
        // transaction (one query per batch, not per order), which also makes it race-free, and
        // refuses a different order under a used id (see replayMismatch).
        submitted = await this.deps.engine.submit({ kind: 'place', userId, ...input });
      } catch (error) {
        await this.#giveBack(quota, userId);
        throw error;
      }
      const { result, replayed } = submitted;
      // A replay holds no new unit; an order that did not rest (filled, expired) neither. Later
      // fills and cancels of a resting order are given back by the shard after its commit.
      if (replayed || !isOpen(result.order.status)) await this.#giveBack(quota, userId);
      this.#metrics.placed(side, type, replayed ? 'replayed' : 'accepted');
      return { ...result, replayed };
    } catch (error) {
      this.#metrics.placed(side, type, placeResult(error));
      throw error;
    }
  }

  async cancel(userId: number, request: { orderId: string }): Promise<OrderResult> {
    const { orderId } = parseRequest(orderIdSchema, request);
    const order = await this.#openOrder(userId, orderId);
    const { result } = await this.deps.engine.submit({
      kind: 'cancel',
      userId,
      symbol: order.symbol,
      orderId,
    });
    return result;
  }

  async amend(userId: number, request: AmendOrderRequest): Promise<OrderResult> {
    const input = parseRequest(amendOrderSchema, request);
    if (input.price === undefined && input.quantity === undefined) {
      throw new DomainError(
        'invalid_argument',
        'an amend needs a new price, a new quantity or both',
        {
          field: 'price',
        },
      );
    }
    const order = await this.#openOrder(userId, input.orderId);
    const market = this.deps.markets.get(order.symbol);
    if (market === undefined)
      throw new DomainError('failed_precondition', `${order.symbol} is no longer traded`);
    if (order.type !== 'limit') {
      throw new DomainError('failed_precondition', 'only a resting limit order can be amended');
    }
    if (input.quantity !== undefined) checkQuantity(market, input.quantity);
    if (input.price !== undefined) checkPrice(market, input.price);
    const { result } = await this.deps.engine.submit({
      kind: 'amend',
      userId,
      symbol: order.symbol,
      orderId: input.orderId,
      ...(input.price === undefined ? {} : { price: input.price }),
      ...(input.quantity === undefined ? {} : { quantity: input.quantity }),
    });
    return result;
  }

  async get(userId: number, request: { orderId: string }): Promise<OrderResult> {
    const { orderId } = parseRequest(orderIdSchema, request);
    const found = await this.deps.reader.get(userId, orderId);
    if (found === undefined) throw notFound(orderId);
    return found;
  }

  async list(userId: number, request: ListOrdersRequest): Promise<OrderPage> {
    const input = parseRequest(listOrdersSchema, request);
    const limit = input.pageSize === 0 ? DEFAULT_PAGE_SIZE : input.pageSize;
    const beforeId = input.pageToken === '' ? undefined : Number(input.pageToken);
    // One extra row tells whether another page exists without a count query.
    const rows = await this.deps.reader.list(
      userId,
      { symbol: input.symbol, statuses: input.statuses },
      limit + 1,
      beforeId,
    );
    const orders = rows.slice(0, limit);
    const last = orders.at(-1);
    return {
      orders,
      nextPageToken: rows.length > limit && last !== undefined ? String(last.id) : '',
    };
  }

  /**
   * Takes an open-order unit. At the limit, a retry of an order that was already placed must
   * still get that order back, so the client order id is looked up before refusing.
   */
  async #takeOrReplay(
    quota: OpenOrderQuota,
    userId: number,
    input: PlaceOrderInput,
  ): Promise<OrderResult | undefined> {
    try {
      await quota.take(userId);
      return undefined;
    } catch (error) {
      const existing = await this.deps.reader.getByClientOrderId(userId, input.clientOrderId);
      if (existing === undefined) throw error;
      const mismatch = replayMismatch(input, existing.result.order, existing.placedWith);
      if (mismatch !== undefined) throw mismatch;
      return existing.result;
    }
  }

  async #giveBack(quota: OpenOrderQuota | undefined, userId: number): Promise<void> {
    try {
      await quota?.give(userId);
    } catch (error) {
      this.deps.logger.warn({ err: error, user_id: userId }, 'open-order quota release failed');
    }
  }

  async #openOrder(userId: number, orderId: number): Promise<Order> {
    const found = await this.deps.reader.get(userId, orderId);
    if (found === undefined) throw notFound(orderId);
    if (!isOpen(found.order.status)) {
      throw new DomainError(
        'failed_precondition',
        `order ${orderId} is ${found.order.status === 'filled' ? 'filled' : 'canceled'} and can no longer change`,
      );
    }
    return found.order;
  }
}
