import { z } from 'zod';
import type { OrderType, Side, TimeInForce } from '../../engine/index.js';
import { DomainError } from '../errors.js';
import { parseRequest, text } from '../validation.js';
import type { Market } from './market.js';
import type { OrderStatus } from './order.js';

/**
 * Requests as the use cases take them, after a transport has mapped its enums (an unset enum is
 * `undefined`). Checked here against the symbol's rules so a bad order is refused with the
 * field at fault before it reaches an engine shard.
 */

/** A whole number as the wire carries it; its bounds are the symbol's, checked with the market. */
const whole = z.bigint({ error: 'expected a whole number' });

const positiveWhole = (unit: string) =>
  z
    .bigint({ error: 'expected a whole number' })
    .refine((v) => v >= 1n && v <= BigInt(Number.MAX_SAFE_INTEGER), {
      message: `must be a positive whole number of ${unit}`,
    })
    .transform(Number);

const orderId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, { message: 'must be a decimal order id' })
  .transform(Number)
  .refine(Number.isSafeInteger, { message: 'must be a decimal order id' });

/** Symbols are short codes such as BTC-USD; the bound keeps any echo of one small. */
const SYMBOL_MAX = 32;

export const placeOrderSchema = z.object({
  clientOrderId: text(64, { required: true }),
  symbol: text(SYMBOL_MAX, { required: true }),
  side: z.enum(['buy', 'sell'], { message: 'must be SIDE_BUY or SIDE_SELL' }),
  type: z.enum(['limit', 'market'], {
    message: 'must be ORDER_TYPE_LIMIT or ORDER_TYPE_MARKET',
  }),
  timeInForce: z.enum(['GTC', 'IOC', 'FOK'], {
    message: 'must be TIME_IN_FORCE_GTC, TIME_IN_FORCE_IOC or TIME_IN_FORCE_FOK',
  }),
  price: whole,
  quantity: whole,
  postOnly: z.boolean(),
});
/** Enums a transport could not map (unset, unknown) arrive as `undefined`. */
export interface PlaceOrderRequest {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side | undefined;
  readonly type: OrderType | undefined;
  readonly timeInForce: TimeInForce | undefined;
  readonly price: bigint;
  readonly quantity: bigint;
  readonly postOnly: boolean;
}
/** A place after every check: price and quantity in ticks and lots, within the symbol's bounds. */
export type PlaceOrderInput = Omit<z.output<typeof placeOrderSchema>, 'price' | 'quantity'> & {
  readonly price: number;
  readonly quantity: number;
};

export const orderIdSchema = z.object({ orderId });

export const amendOrderSchema = z.object({
  orderId,
  price: positiveWhole('ticks').optional(),
  quantity: positiveWhole('lots').optional(),
});
export type AmendOrderRequest = z.input<typeof amendOrderSchema>;

export const listOrdersSchema = z.object({
  symbol: text(SYMBOL_MAX),
  statuses: z.array(z.enum(['new', 'partially_filled', 'filled', 'canceled'])),
  pageSize: z
    .number()
    .int()
    .min(0, { message: 'must be between 0 and 500' })
    .max(500, { message: 'must be between 0 and 500' }),
  pageToken: z
    .string()
    .regex(/^([1-9][0-9]{0,15})?$/, { message: 'is not a token this service handed out' }),
});
export interface ListOrdersRequest {
  readonly symbol: string;
  readonly statuses: readonly OrderStatus[];
  readonly pageSize: number;
  readonly pageToken: string;
}

const invalid = (field: string, message: string) =>
  new DomainError('invalid_argument', `${field}: ${message}`, { field });

const MAX_WHOLE = BigInt(Number.MAX_SAFE_INTEGER);

/** The symbol's lot and size rules for a quantity in lots. */
export function checkQuantity(market: Market, quantity: number | bigint): number {
  const { lotSize, minQuantity, maxQuantity } = market.spec;
  if (quantity < minQuantity || quantity > maxQuantity) {
    throw invalid('quantity', `must be between ${minQuantity} and ${maxQuantity} lots`);
  }
  const lots = Number(quantity);
  if (lots % lotSize !== 0) {
    throw invalid('quantity', `must be a multiple of the lot size ${lotSize}`);
  }
  return lots;
}

/** A limit price in ticks: at least one tick, a multiple of the tick size. */
export function checkPrice(market: Market, price: number | bigint): number {
  const { tickSize } = market.spec;
  if (price < tickSize) {
    throw invalid('price', `a limit price must be at least one tick (${tickSize})`);
  }
  if (price > MAX_WHOLE) throw invalid('price', `must be at most ${MAX_WHOLE} ticks`);
  const ticks = Number(price);
  if (ticks % tickSize !== 0) {
    throw invalid('price', `must be a multiple of the tick size ${tickSize}`);
  }
  return ticks;
}

export function parsePlaceOrder(
  markets: ReadonlyMap<string, Market>,
  request: PlaceOrderRequest,
): { input: PlaceOrderInput; market: Market } {
  const input = parseRequest(placeOrderSchema, request);
  const market = markets.get(input.symbol);
  if (market === undefined) {
    throw invalid(
      'symbol',
      `${input.symbol} is not traded; known: ${[...markets.keys()].join(', ')}`,
    );
  }
  if (input.type === 'market' && input.timeInForce === 'GTC') {
    throw invalid('time_in_force', 'a market order must be TIME_IN_FORCE_IOC or TIME_IN_FORCE_FOK');
  }
  if (input.postOnly && (input.type !== 'limit' || input.timeInForce !== 'GTC')) {
    throw invalid('post_only', 'only a TIME_IN_FORCE_GTC limit order can be post-only');
  }
  const quantity = checkQuantity(market, input.quantity);
  if (input.type === 'market') {
    // A market order takes whatever price the book offers; a price here is a client's mistake.
    if (input.price !== 0n) throw invalid('price', 'must be unset (0) for a market order');
    return { input: { ...input, price: 0, quantity }, market };
  }
  return { input: { ...input, price: checkPrice(market, input.price), quantity }, market };
}
