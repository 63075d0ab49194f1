import { setTimeout as sleep } from 'node:timers/promises';
import type { Side } from '../engine/index.js';
import { isDomainError } from '../domain/errors.js';
import { isOpen, type Order } from '../domain/orders/order.js';
import type { OrderDesk } from '../domain/orders/order-desk.js';
import type { Logger, Registry } from '../telemetry/index.js';
import { botUsername, type BotAccounts, type SimulatorBot } from './bot-accounts.js';
import {
  simulatorMetrics,
  type SimulatorAction,
  type SimulatorMetrics,
  type SimulatorResult,
} from './market-simulator.metrics.js';
import type { PriceWalk } from './price-walk.js';
import { SeededRandom } from './seeded-random.js';

/** The use cases the simulator calls: the same ones the gRPC handlers call. */
export type SimulatorOrders = Pick<OrderDesk, 'place' | 'cancel' | 'list'>;

export interface MarketSimulatorSettings {
  /** Same seed, same decisions (given the same answers from the order service). */
  readonly seed: number;
  /** Actions (places and cancels) per second, all bots together. */
  readonly ratePerSec: number;
  readonly bots: number;
  /** Part of every client order id, different on every run, so a restart never replays. */
  readonly runId: string;
  /** Resting orders a bot keeps at most; well below the open-order quota. */
  readonly maxRestingPerBot: number;
  /** Share of actions that cancel the bot's oldest resting order. */
  readonly cancelProbability: number;
  /** Share of actions that take liquidity (IOC through the mid), so trades happen. */
  readonly crossProbability: number;
  /** How often balances are topped up and the tracked resting orders checked against the book. */
  readonly maintenanceIntervalMs: number;
  /** Wait before trying again when the bots cannot be set up (database down at start). */
  readonly retryDelayMs: number;
  /** At most one warning per this long while actions fail; each failure is logged at debug. */
  readonly warnIntervalMs: number;
}

export const DEFAULT_SIMULATOR_SETTINGS: Omit<
  MarketSimulatorSettings,
  'seed' | 'ratePerSec' | 'bots' | 'runId' | 'maxRestingPerBot'
> = {
  cancelProbability: 0.15,
  crossProbability: 0.2,
  maintenanceIntervalMs: 60_000,
  retryDelayMs: 5_000,
  warnIntervalMs: 10_000,
};

export interface MarketSimulatorDeps {
  readonly orders: SimulatorOrders;
  readonly accounts: BotAccounts;
  /** One per simulated symbol; the simulator moves their mids. */
  readonly walks: readonly PriceWalk[];
  readonly logger: Logger;
  readonly registry: Registry;
}

interface RestingOrder {
  readonly orderId: string;
}

const OPEN: ('new' | 'partially_filled')[] = ['new', 'partially_filled'];
const LIST_PAGE = 500;

/** Maps an error from the order service to the bounded `result` label. */
function resultOf(error: unknown): SimulatorResult {
  if (!isDomainError(error)) return 'failed';
  switch (error.code) {
    case 'invalid_argument':
    case 'failed_precondition':
      return 'rejected';
    case 'resource_exhausted':
      return 'throttled';
    case 'unavailable':
    case 'deadline_exceeded':
      return 'unavailable';
    default:
      return 'failed';
  }
}

/**
 * Built-in market simulator: a few bot accounts keep resting limit orders on both sides of a
 * seeded random-walk mid price, sometimes take liquidity (so trades happen) and cancel their
 * oldest orders, so a fresh process shows a live book. It places and cancels through the order
 * use cases, like any client. A failing action is counted and logged, never thrown: the loop
 * keeps going through outages.
 */
export class MarketSimulator {
  readonly #random: SeededRandom;
  readonly #metrics: SimulatorMetrics;
  #bots: readonly SimulatorBot[] = [];
  /** Per bot, oldest first. May still list orders filled since: a cancel then finds them gone. */
  readonly #resting = new Map<number, RestingOrder[]>();
  #sequence = 0;
  readonly #counts = { placed: 0, canceled: 0, failed: 0 };
  #failuresSinceWarn = 0;
  #lastWarnAt = -Infinity;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    private readonly deps: MarketSimulatorDeps,
    private readonly settings: MarketSimulatorSettings,
  ) {
    this.#random = new SeededRandom(settings.seed);
    this.#metrics = simulatorMetrics(deps.registry);
  }

  /** Starts placing in the background; `stop()` ends it. */
  start(): void {
    if (this.#loop !== undefined) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = this.#run(abort.signal).catch((error: unknown) => {
      this.deps.logger.error({ err: error }, 'market simulator crashed');
    });
  }

  /** Stops after the action in flight; resolves once nothing more will be placed. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
  }

  /**
   * Creates the bots (idempotently), tops their balances up and cancels the orders they left
   * resting in an earlier run, so every run starts from a book around the reference price.
   */
  async prepare(): Promise<void> {
    const wanted = Array.from({ length: this.settings.bots }, (_, i) => botUsername(i + 1));
    const bots = await this.deps.accounts.ensure(wanted);
    const have = new Set(bots.map((bot) => bot.username.toLowerCase()));
    const taken = wanted.filter((name) => !have.has(name));
    if (taken.length > 0) {
      this.deps.logger.warn(
        { usernames: taken },
        'market simulator bot names belong to other users; skipping them',
      );
    }
    await this.#topUp(bots);
    let stale = 0;
    for (const bot of bots) {
      for (const order of await this.#openOrders(bot)) {
        await this.#cancel(bot, { orderId: String(order.id) });
        stale += 1;
      }
    }
    if (stale > 0)
      this.deps.logger.info({ orders: stale }, 'market simulator canceled stale orders');
    this.#bots = bots;
    this.#resting.clear();
  }

  /** One action of one bot: place a resting order, take liquidity, or cancel an old order. */
  async step(): Promise<void> {
    const random = this.#random;
    if (this.#bots.length === 0 || this.deps.walks.length === 0) return;
    const walk = random.pick(this.deps.walks);
    walk.move(random);
    const bot = random.pick(this.#bots);
    const resting = this.#restingOf(bot);
    const roll = random.next();
    const { cancelProbability, crossProbability, maxRestingPerBot } = this.settings;

    const oldest = resting[0];
    if (oldest !== undefined && (resting.length >= maxRestingPerBot || roll < cancelProbability)) {
      await this.#cancel(bot, oldest);
      return;
    }
    const side: Side = random.chance(0.5) ? 'buy' : 'sell';
    const crossing = roll < cancelProbability + crossProbability;
    const price = crossing ? walk.crossingPrice(side, random) : walk.restingPrice(side, random);
    const quantity = walk.quantity(random);
    this.#sequence += 1;
    try {
      const { order } = await this.deps.orders.place(bot.userId, {
        clientOrderId: `sim-${this.settings.runId}-${this.#sequence}`,
        symbol: walk.symbol,
        side,
        type: 'limit',
        timeInForce: crossing ? 'IOC' : 'GTC',
        price: BigInt(price),
        quantity: BigInt(quantity),
        postOnly: false,
      });
      if (isOpen(order.status)) resting.push({ orderId: String(order.id) });
      this.#counts.placed += 1;
      this.#metrics.action('place', 'ok');
    } catch (error) {
      this.#failed('place', resultOf(error), error);
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    const { seed, ratePerSec, runId } = this.settings;
    while (!signal.aborted) {
      try {
        await this.prepare();
        break;
      } catch (error) {
        logger.warn({ err: error }, 'market simulator could not set up its bots; retrying');
        await pause(this.settings.retryDelayMs, signal);
      }
    }
    if (signal.aborted) return;

    this.#metrics.running(true);
    logger.info(
      {
        seed,
        rate_per_s: ratePerSec,
        bots: this.#bots.length,
        run_id: runId,
        symbols: this.deps.walks.map((walk) => walk.symbol),
      },
      'market simulator started',
    );
    // A function, so the compiler does not narrow `aborted` to false for the whole loop.
    const stopped = () => signal.aborted;
    const intervalMs = 1_000 / ratePerSec;
    let due = performance.now();
    let maintenanceDue = due + this.settings.maintenanceIntervalMs;
    try {
      while (!stopped()) {
        await this.step();
        if (performance.now() >= maintenanceDue) {
          await this.#maintain();
          maintenanceDue = performance.now() + this.settings.maintenanceIntervalMs;
        }
        // A steady pace; after a stall (an outage), carry on at the rate instead of bursting.
        const now = performance.now();
        due = Math.max(due + intervalMs, now - intervalMs);
        await pause(due - now, signal);
      }
    } finally {
      this.#metrics.running(false);
      logger.info({ ...this.#counts, run_id: runId }, 'market simulator stopped');
    }
  }

  /** Tops balances up and replaces the tracked resting orders with what really rests. */
  async #maintain(): Promise<void> {
    try {
      await this.#topUp(this.#bots);
      for (const bot of this.#bots) {
        const open = await this.#openOrders(bot);
        this.#resting.set(
          bot.userId,
          open.sort((a, b) => a.id - b.id).map((order) => ({ orderId: String(order.id) })),
        );
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'market simulator maintenance failed');
    }
  }

  async #topUp(bots: readonly SimulatorBot[]): Promise<void> {
    for (const topUp of await this.deps.accounts.topUp(bots)) {
      this.#metrics.toppedUp(topUp.asset);
      this.deps.logger.info(
        { user_id: topUp.userId, asset: topUp.asset, available: topUp.amount.toString() },
        'market simulator topped up a bot balance',
      );
    }
  }

  async #openOrders(bot: SimulatorBot): Promise<Order[]> {
    const orders: Order[] = [];
    let pageToken = '';
    do {
      const page = await this.deps.orders.list(bot.userId, {
        symbol: '',
        statuses: OPEN,
        pageSize: LIST_PAGE,
        pageToken,
      });
      orders.push(...page.orders);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return orders;
  }

  async #cancel(bot: SimulatorBot, order: RestingOrder): Promise<void> {
    let result: SimulatorResult;
    try {
      await this.deps.orders.cancel(bot.userId, { orderId: order.orderId });
      result = 'ok';
      this.#counts.canceled += 1;
    } catch (error) {
      // Filled or canceled in the meantime: nothing left to cancel, which is fine.
      const gone =
        isDomainError(error) &&
        (error.code === 'failed_precondition' || error.code === 'not_found');
      result = gone ? 'gone' : resultOf(error);
      if (!gone) {
        this.#failed('cancel', result, error);
        return;
      }
    }
    this.#metrics.action('cancel', result);
    const resting = this.#restingOf(bot);
    const index = resting.findIndex((o) => o.orderId === order.orderId);
    if (index >= 0) resting.splice(index, 1);
  }

  #restingOf(bot: SimulatorBot): RestingOrder[] {
    let resting = this.#resting.get(bot.userId);
    if (resting === undefined) {
      resting = [];
      this.#resting.set(bot.userId, resting);
    }
    return resting;
  }

  #failed(action: SimulatorAction, result: SimulatorResult, error: unknown): void {
    const { logger } = this.deps;
    this.#metrics.action(action, result);
    this.#counts.failed += 1;
    this.#failuresSinceWarn += 1;
    logger.debug({ err: error, action, result }, 'market simulator action failed');
    const now = performance.now();
    if (now - this.#lastWarnAt >= this.settings.warnIntervalMs) {
      logger.warn(
        { err: error, action, result, failures: this.#failuresSinceWarn },
        'market simulator actions failing',
      );
      this.#failuresSinceWarn = 0;
      this.#lastWarnAt = now;
    }
  }
}

/** Waits, or returns early when the simulator is stopped. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted: the loop checks the signal.
  }
}
