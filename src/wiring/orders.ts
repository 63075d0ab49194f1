import type { SelfTradePrevention, SymbolSpec } from '../engine/index.js';
import type { Clock } from '../domain/clock.js';
import { AccountService } from '../domain/accounts/account.service.js';
import type { Market } from '../domain/orders/market.js';
import { OpenOrderQuota } from '../domain/orders/open-order-quota.js';
import { OrderService } from '../domain/orders/order.service.js';
import type { OrderEngine } from '../domain/orders/order-engine.port.js';
import type { QuotaCounter } from '../domain/ports/quota.port.js';
import type { StreamLog } from '../domain/ports/stream-log.port.js';
import { DomainError } from '../domain/errors.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import { PostgresBalanceReader } from '../adapters/orders/balance-reader.postgres.js';
import { openOrdersByUser } from '../adapters/orders/open-order-counts.postgres.js';
import { PostgresOrderReader } from '../adapters/orders/order-reader.postgres.js';
import { OutboxRelay, type RelayOptions } from '../adapters/orders/outbox-relay.js';
import { ShardLeadership } from '../adapters/orders/shard-leadership.postgres.js';
import { ShardRunner, type BatchLimits } from '../adapters/orders/shard-runner.js';
import type { Postgres } from '../adapters/postgres/index.js';
import { MemoryStreamLog } from '../adapters/stream-log/stream-log.memory.js';
import { counter, type Logger, type Registry } from '../telemetry/index.js';
import { accountRpc } from '../transport/rpc/account.rpc.js';
import { ordersRpc } from '../transport/rpc/orders.rpc.js';

export interface MarketSettings extends Omit<Market, 'spec'> {
  readonly spec: SymbolSpec;
  /** Engine shard owning the symbol; symbols of one shard share one writer. */
  readonly shard: string;
}

export interface OrdersSettings {
  readonly markets: readonly MarketSettings[];
  /**
   * Keep `cancel-incoming`: a market buy reserves up to the price where the visible asks cover
   * it, which bounds its trades only if it stops at its own resting order instead of trading
   * through it (the balance CHECKs would otherwise fail its batch).
   */
  readonly selfTradePrevention: SelfTradePrevention;
  readonly batching: BatchLimits;
  readonly relay: RelayOptions;
  /** Open (resting) orders a user may have across all symbols; 0 = no limit. */
  readonly maxOpenOrdersPerUser: number;
  /** How often each shard checks its tickers' 24-hour windows for minutes that left (ms). */
  readonly tickerRollCheckMs?: number;
}

/**
 * BTC-USD with integer units that multiply to whole minor units:
 * - price in ticks of 1 USD per BTC (65,000 ticks = $65,000/BTC);
 * - quantity in lots of 0.01 BTC = 1,000,000 satoshi;
 * - so 1 lot at 1 tick costs 0.01 USD = 1 cent (`quoteMinorPerTickLot` 1).
 * A demo user (USD 100,000,000 cents = $1M, BTC 100,000,000 sat = 1 BTC = 100 lots) can buy
 * 1 lot at $65,000 for 65,000 cents.
 */
export const DEFAULT_ORDERS_SETTINGS: OrdersSettings = {
  markets: [
    {
      shard: 'shard-0',
      spec: { symbol: 'BTC-USD', tickSize: 1, lotSize: 1, minQuantity: 1, maxQuantity: 10_000 },
      baseAsset: 'BTC',
      quoteAsset: 'USD',
      quoteMinorPerTickLot: 1,
      baseMinorPerLot: 1_000_000,
    },
  ],
  selfTradePrevention: 'cancel-incoming',
  batching: { maxBatchSize: 500, maxBatchDelayMs: 1 },
  relay: { batchSize: 1_000, pollIntervalMs: 500, retryDelayMs: 1_000, minIntervalMs: 5 },
  maxOpenOrdersPerUser: 200,
};

export interface OrdersDeps {
  readonly postgres: Postgres;
  /** Shared counter for `maxOpenOrdersPerUser`; without it the limit is not enforced. */
  readonly quotas?: QuotaCounter;
  /** Redis in production; the in-process twin when absent (embedded mode, tests). */
  readonly streamLog?: StreamLog;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock: Clock;
  /**
   * Elect one leader per shard with a PostgreSQL advisory lock (standbys poll every
   * `pollIntervalMs`; a leader silent for `leaseMs` loses it; `holder` names this process).
   * Absent: this process takes every shard at start (embedded PGlite, where leadership is
   * local, and tests that restart shards by hand).
   */
  readonly leadership?: {
    readonly pollIntervalMs: number;
    readonly leaseMs: number;
    readonly holder: string;
  };
}

/** The use cases and their RPC handlers: what ROLE=api serves, in front of an engine. */
export interface OrderApi {
  readonly orderRpc: ReturnType<typeof ordersRpc>;
  readonly accountRpc: ReturnType<typeof accountRpc>;
  readonly orders: OrderService;
  readonly accounts: AccountService;
}

/** The engine shards of this process and the outbox relay: what ROLE=engine runs. */
export interface OrderEngineModule {
  /** Routes each command to the shard owning its symbol (UNAVAILABLE while not leading it). */
  readonly engine: OrderEngine;
  readonly shards: ReadonlyMap<string, ShardRunner>;
  readonly relay: OutboxRelay;
  readonly streamLog: StreamLog;
  /** Whether this process leads every shard (always true without leadership election). */
  leading(): boolean;
  /**
   * Campaigns for (or takes) every shard; a shard it leads bumps its epoch, rebuilds its books
   * and reconciles the open-order quota counters; then starts the relay. Resolves after the
   * first attempt, leader or standby.
   */
  start(): Promise<void>;
  /** Shards first (they commit what is queued), then the relay (publishes what is left). */
  readonly closeSteps: readonly ShutdownStep[];
}

export interface Orders extends OrderApi {
  readonly shards: ReadonlyMap<string, ShardRunner>;
  readonly relay: OutboxRelay;
  readonly streamLog: StreamLog;
  /**
   * Takes every shard (epoch bump), rebuilds its books, reconciles the open-order quota
   * counters with the open orders in PostgreSQL, then starts the relay. Serve no order RPC
   * before it resolves.
   */
  start(): Promise<void>;
  /** Shards first (they commit what is queued), then the relay (publishes what is left). */
  readonly closeSteps: readonly ShutdownStep[];
}

/**
 * Orders and accounts in one process (ROLE=all): the api half calling the engine half through
 * the same `OrderEngine` port that ROLE=api reaches over gRPC. Add `closeSteps` before the
 * data layer's own steps so the pool is still open while shards drain.
 */
export function createOrders(settings: OrdersSettings, deps: OrdersDeps): Orders {
  const engine = createOrderEngine(settings, deps);
  const api = createOrderApi(settings, { ...deps, engine: engine.engine });
  return {
    ...api,
    shards: engine.shards,
    relay: engine.relay,
    streamLog: engine.streamLog,
    start: () => engine.start(),
    closeSteps: engine.closeSteps,
  };
}

const marketsOf = (settings: OrdersSettings) =>
  new Map<string, Market>(settings.markets.map((market) => [market.spec.symbol, market]));

const openOrderQuota = (settings: OrdersSettings, quotas: QuotaCounter | undefined) =>
  quotas === undefined || settings.maxOpenOrdersPerUser <= 0
    ? undefined
    : new OpenOrderQuota(quotas, settings.maxOpenOrdersPerUser);

/** The api half: validation, quota and reads here; commands go to `engine`. */
export function createOrderApi(
  settings: OrdersSettings,
  deps: Pick<OrdersDeps, 'postgres' | 'quotas' | 'logger' | 'registry'> & {
    readonly engine: OrderEngine;
  },
): OrderApi {
  const { postgres, logger, registry, engine } = deps;
  const quota = openOrderQuota(settings, deps.quotas);
  const orders = new OrderService({
    engine,
    reader: new PostgresOrderReader(postgres),
    markets: marketsOf(settings),
    ...(quota === undefined ? {} : { quota }),
    logger,
    registry,
  });
  const accounts = new AccountService(new PostgresBalanceReader(postgres));
  return {
    orderRpc: ordersRpc(orders, { registry, logger }),
    accountRpc: accountRpc(accounts),
    orders,
    accounts,
  };
}

/** The engine half: one shard runner per shard of symbols, leadership, the outbox relay. */
export function createOrderEngine(settings: OrdersSettings, deps: OrdersDeps): OrderEngineModule {
  const { postgres, logger, registry, clock } = deps;
  const streamLog = deps.streamLog ?? new MemoryStreamLog();
  const relay = new OutboxRelay({ postgres, streamLog, logger, registry }, settings.relay);
  const quota = openOrderQuota(settings, deps.quotas);

  const byShard = new Map<string, Market[]>();
  for (const market of settings.markets) {
    byShard.set(market.shard, [...(byShard.get(market.shard) ?? []), market]);
  }
  const shards = new Map<string, ShardRunner>();
  const shardOf = new Map<string, ShardRunner>();
  for (const [shard, shardMarkets] of byShard) {
    const runner = new ShardRunner({
      shard,
      markets: shardMarkets,
      selfTradePrevention: settings.selfTradePrevention,
      // Several shards can trade for one user: their batches must lock balances in one pass.
      lockTouchedBalances: byShard.size > 1,
      ...settings.batching,
      ...(settings.tickerRollCheckMs === undefined
        ? {}
        : { tickerRollCheckMs: settings.tickerRollCheckMs }),
      postgres,
      clock,
      logger,
      registry,
      onCommit: () => {
        relay.notify();
      },
      onOrdersClosed: (userIds) => {
        if (quota === undefined) return;
        for (const userId of userIds) {
          quota.give(userId).catch((error: unknown) => {
            logger.warn({ err: error, user_id: userId }, 'open-order quota release failed');
          });
        }
      },
    });
    shards.set(shard, runner);
    for (const market of shardMarkets) shardOf.set(market.spec.symbol, runner);
  }
  const engine: OrderEngine = {
    submit(command) {
      const runner = shardOf.get(command.symbol);
      if (runner === undefined) {
        return Promise.reject(
          new DomainError('invalid_argument', `${command.symbol} is not traded`, {
            field: 'symbol',
          }),
        );
      }
      return runner.submit(command);
    },
  };

  if (quota !== undefined) {
    // Zero series from the start: the corrections happen before the first scrape.
    const corrections = quotaCorrections(registry);
    for (const kind of ['leaked', 'missing']) corrections.inc({ kind }, 0);
  }
  const takeShard = async (runner: ShardRunner) => {
    await runner.start();
    if (quota !== undefined) await reconcileQuota(quota, postgres, logger, registry);
  };
  const { leadership } = deps;
  const leaders =
    leadership === undefined
      ? []
      : [...shards.values()].map(
          (runner) =>
            new ShardLeadership({
              shard: runner.shard,
              postgres,
              pollIntervalMs: leadership.pollIntervalMs,
              leaseMs: leadership.leaseMs,
              holder: leadership.holder,
              logger,
              registry,
              onAcquired: () => takeShard(runner),
              onLost: () => runner.stop(),
            }),
        );
  return {
    engine,
    shards,
    relay,
    streamLog,
    leading: () => leaders.every((leader) => leader.leading),
    async start() {
      if (leadership === undefined) {
        for (const runner of shards.values()) await takeShard(runner);
      } else {
        for (const leader of leaders) await leader.start();
      }
      relay.start();
    },
    closeSteps: [
      {
        name: 'engine shards',
        run: async () => {
          await Promise.all([...shards.values()].map((runner) => runner.stop()));
          await Promise.all(leaders.map((leader) => leader.stop()));
        },
      },
      { name: 'outbox relay', run: () => relay.stop() },
    ],
  };
}

/**
 * Open-order units leak when a process dies between a commit and the release of a unit (or
 * between taking a unit and placing the order), and nothing else gives them back. A new leader
 * therefore resets every user's counter to their open orders in PostgreSQL, over every symbol
 * (the counter is per user, not per shard), and clears the counters of users with none.
 *
 * Races: this runs after the shards have rebuilt their books and before `start()` resolves,
 * and the app serves order RPCs only after that, so nothing in this process takes or gives a
 * unit meanwhile; the shards have no command queued, so the open orders cannot change under
 * the count. Another process serving orders at the same moment (several api pods in front of
 * the engine) could have units in flight for orders not committed yet: they are overwritten,
 * so that user may hold that many orders over the limit until their orders close (releases
 * stop at 0) or the next reconciliation. The quota is a guard against runaway clients, not a ledger: that is the
 * trade-off taken instead of leases.
 *
 * A failure here (Redis down) does not stop the engine: the counters stay as they were (as
 * before reconciliation existed) and the next start tries again.
 */
async function reconcileQuota(
  quota: OpenOrderQuota,
  postgres: Postgres,
  logger: Logger,
  registry: Registry,
): Promise<void> {
  const corrections = quotaCorrections(registry);
  const startedAt = performance.now();
  try {
    const result = await quota.reconcile(await openOrdersByUser(postgres));
    corrections.inc({ kind: 'leaked' }, result.leaked);
    corrections.inc({ kind: 'missing' }, result.missing);
    logger.info(
      { ...result, duration_ms: Math.round(performance.now() - startedAt) },
      'open-order quota reconciled',
    );
  } catch (error) {
    logger.warn(
      { err: error },
      'open-order quota reconciliation failed; counters left as they were',
    );
  }
}

const quotaCorrections = (registry: Registry) =>
  counter(registry, {
    name: 'open_order_quota_corrected_units_total',
    help: 'Open-order quota units corrected when engine shards start, by kind (leaked: counted without an open order; missing: open order without a unit).',
    labelNames: ['kind'] as const,
  });
