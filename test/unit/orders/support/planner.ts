import {
  planBatch,
  type BatchPlan,
  type MutableOrder,
  type PlannedCommand,
} from '../../../../src/adapters/orders/batch-plan.js';
import { RollingTicker } from '../../../../src/domain/market-data/rolling-ticker.js';
import type { Market } from '../../../../src/domain/orders/market.js';
import type { OrderCommand } from '../../../../src/domain/orders/order-engine.port.js';
import type { MatchingEngine } from '../../../../src/engine/index.js';

/**
 * Plans batches on one shard's state as the runner would, numbering new orders 1, 2, … (no
 * database: `available` stands for the balances the batch read). Each market has a ticker with
 * no trades before the first batch; `due` lists symbols whose ticker a batch publishes anyway.
 */
export function planner(shard: {
  readonly engine: MatchingEngine;
  readonly open: Map<number, MutableOrder>;
  readonly markets: ReadonlyMap<string, Market>;
  readonly available: Map<string, bigint>;
  readonly now: Date;
}): (commands: readonly OrderCommand[], due?: readonly string[]) => BatchPlan {
  let nextId = 1;
  const tickers = new Map([...shard.markets.keys()].map((symbol) => [symbol, new RollingTicker()]));
  return (commands, due = []) =>
    planBatch({
      ...shard,
      tickers,
      dueTickers: new Set(due),
      existing: new Map(),
      commands: commands.map((command): PlannedCommand =>
        command.kind === 'place' ? { command, newOrderId: nextId++ } : { command },
      ),
    });
}
