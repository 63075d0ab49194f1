import { MatchingEngine, type SelfTradePrevention } from '../../engine/index.js';
import { RollingTicker, windowStartMs } from '../../domain/market-data/rolling-ticker.js';
import type { Market } from '../../domain/orders/market.js';
import type { Postgres } from '../postgres/index.js';
import type { MutableOrder } from './batch-plan.js';
import { loadBook, loadTicker } from './shard-store.postgres.js';

/**
 * A shard's books in memory: the engine, the shard's open orders by id and each symbol's
 * ticker. Each batch plans on them and changes them before it commits, so after a batch that
 * did not commit they are ahead of PostgreSQL and are rebuilt (`loadShardBooks`).
 */
export interface ShardBooks {
  readonly engine: MatchingEngine;
  readonly open: Map<number, MutableOrder>;
  readonly tickers: Map<string, RollingTicker>;
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
    tickers: new Map(),
  };
}

/**
 * Every book and ticker of the shard as committed, read in one consistent snapshot; the
 * tickers' windows end at `nowMs`.
 */
export async function loadShardBooks(
  postgres: Postgres,
  markets: readonly Market[],
  selfTradePrevention: SelfTradePrevention,
  nowMs: number,
): Promise<ShardBooks> {
  const since = windowStartMs(nowMs);
  const stored = await postgres.withTransaction(
    async (tx) => {
      const loaded = [];
      for (const market of markets) {
        const { symbol } = market.spec;
        loaded.push({
          book: await loadBook(tx, symbol),
          ticker: await loadTicker(tx, symbol, since, market.quoteMinorPerTickLot),
        });
      }
      return loaded;
    },
    { isolation: 'repeatable read' },
  );
  const books = emptyShardBooks(markets, selfTradePrevention);
  for (const { book, ticker } of stored) {
    books.engine.restoreBook(book.symbol, book.openOrders, book.state);
    for (const order of book.orders) books.open.set(order.id, order);
    books.tickers.set(book.symbol, new RollingTicker(ticker));
  }
  return books;
}
