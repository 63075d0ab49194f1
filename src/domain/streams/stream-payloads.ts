import { z } from 'zod';

/**
 * The payloads the engine's outbox publishes (src/adapters/orders/batch-plan.ts), as the stream
 * gateway reads them back. Parsed once per entry, however many subscribers receive it.
 */

const level = z.object({
  side: z.enum(['buy', 'sell']),
  price: z.number().int(),
  /** The level's new total; 0 removes it. */
  quantity: z.number().int().nonnegative(),
});

export const levelsPayload = z.object({
  type: z.literal('levels'),
  levels: z.array(level),
  /** CRC32 of the top 10 levels after the change (docs/protocol.md); absent in old entries. */
  checksum: z.number().int().nonnegative().optional(),
});
export type LevelsPayload = z.output<typeof levelsPayload>;
export type LevelChange = z.output<typeof level>;

export const tradePayload = z.object({
  type: z.literal('trade'),
  tradeId: z.number().int(),
  price: z.number().int(),
  quantity: z.number().int(),
  takerSide: z.enum(['buy', 'sell']),
  /** When the trade happened (the engine batch's time, ms since the epoch); absent in old entries. */
  timeMs: z.number().int().optional(),
});
export type TradePayload = z.output<typeof tradePayload>;

export const orderPayload = z.object({
  type: z.literal('order'),
  order: z.object({
    orderId: z.string(),
    clientOrderId: z.string(),
    symbol: z.string(),
    side: z.enum(['buy', 'sell']),
    type: z.enum(['limit', 'market']),
    price: z.number().int(),
    quantity: z.number().int(),
    filled: z.number().int(),
    status: z.enum(['new', 'partially_filled', 'filled', 'canceled']),
    reason: z.string(),
  }),
  /** The fills this change of the order made (none when it only rested or was canceled). */
  fills: z
    .array(
      z.object({
        tradeId: z.number().int(),
        price: z.number().int(),
        quantity: z.number().int(),
        maker: z.boolean(),
      }),
    )
    .default([]),
});
export type OrderPayload = z.output<typeof orderPayload>;

/** Minor units as decimal text: a bigint, which JSON numbers cannot carry exactly. */
const amount = z.string().regex(/^-?\d+$/);

const int = z.number().int();

/**
 * A symbol's whole ticker after an engine batch (src/domain/market-data/rolling-ticker.ts):
 * each entry replaces the one before, so the last entry of the stream is its snapshot.
 */
export const tickerPayload = z.object({
  type: z.literal('ticker'),
  timeMs: int,
  windowStartMs: int,
  lastPrice: int,
  lastQuantity: int,
  bidPrice: int,
  bidQuantity: int,
  askPrice: int,
  askQuantity: int,
  open: int,
  high: int,
  low: int,
  volume: int,
  quoteVolume: amount,
  trades: int,
  change: int,
  changeBp: int,
});
export type TickerPayload = z.output<typeof tickerPayload>;

/** A user's balances that a batch changed, as they stand after it (not the deltas). */
export const balancesPayload = z.object({
  type: z.literal('balances'),
  balances: z.array(z.object({ asset: z.string(), available: amount, reserved: amount })),
});
export type BalancesPayload = z.output<typeof balancesPayload>;

/** What `orders.<userId>` carries: execution reports and balance updates. */
export const privatePayload = z.discriminatedUnion('type', [orderPayload, balancesPayload]);

/** Memoizes a parser per entry text: a payload fanned out to many subscribers is parsed once. */
export function cachedParser<T>(schema: z.ZodType<T>, size = 1_024): (payload: string) => T {
  const cache = new Map<string, T>();
  return (payload) => {
    const hit = cache.get(payload);
    if (hit !== undefined) return hit;
    const parsed = schema.parse(JSON.parse(payload));
    if (cache.size >= size) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(payload, parsed);
    return parsed;
  };
}
