import { MatchingEngine, type SelfTradePrevention } from '../../engine/index.js';
import type { Market } from '../../domain/orders/market.js';
import type { Postgres } from '../postgres/index.js';
import type { MutableOrder } from './batch-plan.js';
import { loadBook } from './shard-store.postgres.js';

/**
 * A shard's books in memory: the engine and the shard's open orders by id. Each batch plans
 * on them and changes them before it commits, so after a batch that did not commit they are
 * ahead of PostgreSQL and are rebuilt (`loadShardBooks`).
 */
export interface ShardBooks {
  readonly engine: MatchingEngine;
  readonly open: Map<number, MutableOrder>;
}

export function emptyShardBooks(
  markets: readonly Market[],
  selfTradePrevention: SelfTradePrevention,
): ShardBooks {
  return {
    engine: new MatchingEngine(
      markets.map((market) => market.spec),
      { selfTradePrevention, emitLevelChanges: true },
    ),
    open: new Map(),
  };
}

/** Every book of the shard as committed, read in one consistent snapshot. */
export async function loadShardBooks(
  postgres: Postgres,
  markets: readonly Market[],
  selfTradePrevention: SelfTradePrevention,
): Promise<ShardBooks> {
  const stored = await postgres.withTransaction(
    async (tx) => {
      const loaded = [];
      for (const market of markets) loaded.push(await loadBook(tx, market.spec.symbol));
      return loaded;
    },
    { isolation: 'repeatable read' },
  );
  const books = emptyShardBooks(markets, selfTradePrevention);
  for (const book of stored) {
    books.engine.restoreBook(book.symbol, book.openOrders, book.state);
    for (const order of book.orders) books.open.set(order.id, order);
  }
  return books;
}
