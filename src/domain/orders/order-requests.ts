import { z } from 'zod';
import type { OrderType, Side, TimeInForce } from '../../engine/index.js';
import { DomainError } from '../errors.js';
import { parseRequest } from '../validation.js';
import type { Market } from './market.js';
import type { OrderStatus } from './order.js';

/**
 * Requests as the use cases take them, after a transport has mapped its enums (an unset enum is
 * `undefined`). Checked here against the symbol's rules so a bad order is refused with the
 * field at fault before it reaches an engine shard.
 */

const safeWhole = (field: string) =>
  z
    .bigint()
    .refine((v) => v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER), {
      message: `${field} must be a whole number between 0 and ${Number.MAX_SAFE_INTEGER}`,
    })
    .transform(Number);

const orderId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, { message: 'must be a decimal order id' })
  .transform(Number)
  .refine(Number.isSafeInteger, { message: 'must be a decimal order id' });

export const placeOrderSchema = z.object({
  clientOrderId: z
    .string()
    .min(1, { message: 'is required (your idempotency key)' })
    .max(64, { message: 'must be at most 64 characters' }),
  symbol: z.string().min(1, { message: 'is required' }),
  side: z.enum(['buy', 'sell'], { message: 'must be BUY or SELL' }),
  type: z.enum(['limit', 'market'], { message: 'must be LIMIT or MARKET' }),
  timeInForce: z.enum(['GTC', 'IOC', 'FOK'], { message: 'must be GTC, IOC or FOK' }),
  price: safeWhole('price'),
  quantity: safeWhole('quantity'),
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
export type PlaceOrderInput = z.output<typeof placeOrderSchema>;

export const orderIdSchema = z.object({ orderId });

export const amendOrderSchema = z.object({
  orderId,
  price: safeWhole('price').optional(),
  quantity: safeWhole('quantity').optional(),
});
export type AmendOrderRequest = z.input<typeof amendOrderSchema>;

export const listOrdersSchema = z.object({
  symbol: z.string(),
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

/** The symbol's lot and size rules for a quantity in lots. */
export function checkQuantity(market: Market, quantity: number): void {
  const { lotSize, minQuantity, maxQuantity } = market.spec;
  if (quantity <= 0) throw invalid('quantity', 'must be at least 1 lot');
  if (quantity % lotSize !== 0) {
    throw invalid('quantity', `must be a multiple of the lot size ${lotSize}`);
  }
  if (quantity < minQuantity || quantity > maxQuantity) {
    throw invalid('quantity', `must be between ${minQuantity} and ${maxQuantity} lots`);
  }
}

export function checkPrice(market: Market, price: number): void {
  if (price <= 0) throw invalid('price', 'a limit price must be at least 1 tick');
  if (price % market.spec.tickSize !== 0) {
    throw invalid('price', `must be a multiple of the tick size ${market.spec.tickSize}`);
  }
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
    throw invalid('time_in_force', 'a market order must be IOC or FOK');
  }
  if (input.postOnly && (input.type !== 'limit' || input.timeInForce !== 'GTC')) {
    throw invalid('post_only', 'only a GTC limit order can be post-only');
  }
  checkQuantity(market, input.quantity);
  if (input.type === 'limit') checkPrice(market, input.price);
  return { input: { ...input, price: input.type === 'market' ? 0 : input.price }, market };
}
