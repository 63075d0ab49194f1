import { status, type Client, type Metadata } from '@grpc/grpc-js';
import { OrderStatus } from '../../gen/trading/v1/orders_pb.js';
import { SeededRandom } from '../seeded-random.js';
import {
  isQuotaRefusal,
  RETRYABLE,
  unary,
  type CallFailure,
  type CallResult,
} from './grpc-calls.js';
import { nextPlace, type PlaceRequest } from './order-flow.js';

interface PbOrder {
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly status: OrderStatus;
}
export interface PlaceResponse {
  readonly order: PbOrder;
  readonly replayed: boolean;
}

/**
 * How one trader's calls reach the api, signed in as its user: plain gRPC or the SDK
 * (`sdk-orders.ts`); failures come back as gRPC codes either way, which the trader judges.
 */
export interface OrderGateway {
  place(request: PlaceRequest): Promise<CallResult<PlaceResponse, CallFailure>>;
  cancel(orderId: string): Promise<CallResult<{ order: PbOrder }, CallFailure>>;
}

/** Plain grpc-js with the user's bearer token on each call. */
export const grpcOrderGateway = (
  orders: Client,
  auth: Metadata,
  timeoutMs = 5_000,
): OrderGateway => ({
  place: (request) => unary(orders, 'placeOrder', request, auth, timeoutMs),
  cancel: (orderId) => unary(orders, 'cancelOrder', { orderId }, auth, timeoutMs),
});

export interface TraderAccount {
  readonly userId: string;
}

/** An order the api acknowledged: it must exist, once, whatever is killed afterwards. */
export interface Ack {
  readonly userId: string;
  readonly clientOrderId: string;
  readonly orderId: string;
}

export interface TraderStats {
  places: number;
  cancels: number;
  retries: number;
  /** Calls given up after `giveUpMs` of retryable failures: their outcome is unknown. */
  abandoned: number;
  /** The last failure of each call given up, as `CODE: message`, to tell why. */
  abandonedBy: string[];
  /** Non-retryable answers, by gRPC code (a cancel of an order already done, a quota). */
  refusals: Map<number, number>;
}

export interface TraderOptions {
  readonly name: string;
  readonly seed: number;
  readonly symbol: string;
  readonly mid: number;
  /** Pause between two commands of this trader. */
  readonly thinkMs: number;
  /** Retry a call with the same client_order_id for this long before giving up. */
  readonly giveUpMs: number;
  readonly cancelShare: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One user placing and cancelling in a loop. A failed place is sent again with the same
 * client_order_id and terms until it is answered (idempotent: the answer is the one order),
 * so every acknowledgement names the order that PostgreSQL must hold.
 */
export class Trader {
  readonly acks: Ack[] = [];
  readonly stats: TraderStats = {
    places: 0,
    cancels: 0,
    retries: 0,
    abandoned: 0,
    abandonedBy: [],
    refusals: new Map(),
  };
  readonly #random: SeededRandom;
  readonly #resting: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #count = 0;
  /** The last call through `#retrying` ended on the open-order quota. */
  #quotaRefused = false;

  constructor(
    private readonly gateway: OrderGateway,
    readonly account: TraderAccount,
    private readonly options: TraderOptions,
  ) {
    this.#random = new SeededRandom(options.seed);
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after the command in flight is answered (or given up). */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const cancel = this.#resting.length > 0 && this.#random.chance(this.options.cancelShare);
      if (cancel) await this.#cancel();
      else await this.#place();
      if (this.options.thinkMs > 0) await sleep(this.options.thinkMs);
    }
  }

  async #place(): Promise<void> {
    const clientOrderId = `${this.options.name}-${this.#count++}`;
    const request = nextPlace(this.#random, this.options.symbol, this.options.mid, clientOrderId);
    let result = await this.#retrying(() => this.gateway.place(request));
    // At the open-order quota, waiting lifts nothing: cancel one, as the answer says, and send
    // the same order again.
    while (
      result === undefined &&
      this.#quotaRefused &&
      this.#resting.length > 0 &&
      this.#running
    ) {
      await this.#cancel();
      result = await this.#retrying(() => this.gateway.place(request));
    }
    if (result === undefined) return;
    this.stats.places += 1;
    const { order } = result;
    this.acks.push({ userId: this.account.userId, clientOrderId, orderId: order.orderId });
    if (order.status === OrderStatus.NEW || order.status === OrderStatus.PARTIALLY_FILLED) {
      this.#resting.push(order.orderId);
    }
  }

  async #cancel(): Promise<void> {
    const index = this.#random.int(0, this.#resting.length - 1);
    const [orderId] = this.#resting.splice(index, 1);
    if (orderId === undefined) return;
    const result = await this.#retrying(() => this.gateway.cancel(orderId));
    if (result !== undefined) this.stats.cancels += 1;
  }

  async #retrying<T>(call: () => Promise<CallResult<T, CallFailure>>): Promise<T | undefined> {
    const deadline = Date.now() + this.options.giveUpMs;
    let delay = 50;
    this.#quotaRefused = false;
    for (;;) {
      const result = await call();
      if (result.ok) return result.response;
      if (isQuotaRefusal(result.error)) this.#quotaRefused = true;
      if (!RETRYABLE.has(result.error.code) || this.#quotaRefused) {
        this.#refused(result.error);
        return undefined;
      }
      if (Date.now() > deadline) {
        this.stats.abandoned += 1;
        this.stats.abandonedBy.push(`${status[result.error.code]}: ${result.error.details}`);
        return undefined;
      }
      this.stats.retries += 1;
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  #refused(error: CallFailure): void {
    this.stats.refusals.set(error.code, (this.stats.refusals.get(error.code) ?? 0) + 1);
  }
}
