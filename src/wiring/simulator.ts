import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { OrderDesk } from '../domain/orders/order-desk.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import { PostgresUserRepository } from '../adapters/auth/user.repository.postgres.js';
import type { Postgres } from '../adapters/postgres/index.js';
import type { Logger, Registry } from '../telemetry/index.js';
import { balanceTargets } from '../tools/bot-accounts.js';
import { PostgresBotAccounts } from '../tools/bot-accounts.postgres.js';
import { DEFAULT_SIMULATOR_SETTINGS, MarketSimulator } from '../tools/market-simulator.js';
import { PriceWalk } from '../tools/price-walk.js';
import type { OrdersSettings } from './orders.js';

/** Where each symbol's simulated mid starts and reverts to, in its price units. */
export const REFERENCE_PRICES: Readonly<Record<string, number>> = { 'BTC-USD': 65_000 };

/** Resting orders per bot: a tenth of the open-order quota, and never more than this. */
const MAX_RESTING_PER_BOT = 20;

export interface SimulatorDeps {
  readonly orders: OrderDesk;
  readonly postgres: Postgres;
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface Simulator {
  start(): void;
  /** Add before the orders' close steps: the simulator stops placing before shards drain. */
  readonly closeStep: ShutdownStep;
}

/**
 * The built-in market simulator of ROLE=all, when enabled: bots trading every market that has a
 * reference price, through the in-process order use cases. Undefined when it should not run.
 */
export function createSimulator(
  config: Config,
  settings: OrdersSettings,
  deps: SimulatorDeps,
): Simulator | undefined {
  if (config.role !== 'all' || !config.simulator.enabled) return undefined;
  const { orders, postgres, logger, registry } = deps;

  const simulated: { walk: PriceWalk; market: OrdersSettings['markets'][number] }[] = [];
  for (const market of settings.markets) {
    const { symbol } = market.spec;
    const reference = REFERENCE_PRICES[symbol] ?? market.spec.priceBand?.referencePrice;
    try {
      if (reference === undefined) throw new RangeError('no reference price');
      simulated.push({ walk: new PriceWalk(market.spec, reference), market });
    } catch (error) {
      logger.warn({ err: error, symbol }, 'market simulator cannot trade this symbol; skipping it');
    }
  }
  const accounts = new PostgresBotAccounts(
    { postgres, users: new PostgresUserRepository(postgres) },
    balanceTargets(
      simulated.map(({ walk, market }) => ({
        market,
        maxPrice: walk.maxPrice,
        maxQuantity: walk.maxQuantity,
      })),
    ),
  );
  const quota = settings.maxOpenOrdersPerUser;
  const simulator = new MarketSimulator(
    { orders, accounts, walks: simulated.map((s) => s.walk), logger, registry },
    {
      ...DEFAULT_SIMULATOR_SETTINGS,
      seed: config.simulator.seed,
      ratePerSec: config.simulator.ratePerSec,
      bots: config.simulator.bots,
      runId: randomBytes(4).toString('hex'),
      maxRestingPerBot:
        quota <= 0
          ? MAX_RESTING_PER_BOT
          : Math.max(1, Math.min(MAX_RESTING_PER_BOT, Math.floor(quota / 10))),
    },
  );
  return {
    start: () => {
      simulator.start();
    },
    closeStep: { name: 'market simulator', run: () => simulator.stop() },
  };
}
