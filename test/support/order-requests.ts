import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderType, TimeInForce } from '../../src/gen/trading/v1/orders_pb.js';

/** A PlaceOrderRequest as a gRPC client sends it: a GTC limit buy of 1 lot at 60,000 unless overridden. */
export const placeRequest = (clientOrderId: string, overrides: Record<string, unknown> = {}) => ({
  clientOrderId,
  symbol: 'BTC-USD',
  side: Side.BUY,
  type: OrderType.LIMIT,
  timeInForce: TimeInForce.GTC,
  price: 60_000n,
  quantity: 1n,
  ...overrides,
});
