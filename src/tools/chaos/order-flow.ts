import { Side } from '../../gen/trading/v1/common_pb.js';
import { OrderType, TimeInForce } from '../../gen/trading/v1/orders_pb.js';
import type { SeededRandom } from '../seeded-random.js';

export interface PlaceRequest {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly price: bigint;
  readonly quantity: bigint;
}

/**
 * A seeded mix around one price, so that orders cross often: resting limits on both sides
 * within five ticks of `mid`, a share of IOC limits and of market orders. Small quantities keep
 * every trader far from its balance, so a refusal is never for funds.
 */
export function nextPlace(
  random: SeededRandom,
  symbol: string,
  mid: number,
  clientOrderId: string,
): PlaceRequest {
  const side = random.chance(0.5) ? Side.BUY : Side.SELL;
  const quantity = BigInt(random.int(1, 5));
  const roll = random.next();
  if (roll < 0.1) {
    return {
      clientOrderId,
      symbol,
      side,
      type: OrderType.MARKET,
      timeInForce: TimeInForce.IOC,
      price: 0n,
      quantity,
    };
  }
  return {
    clientOrderId,
    symbol,
    side,
    type: OrderType.LIMIT,
    timeInForce: roll < 0.25 ? TimeInForce.IOC : TimeInForce.GTC,
    price: BigInt(mid + random.int(-5, 5)),
    quantity,
  };
}
