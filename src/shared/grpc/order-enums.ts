import type { OrderType, Side, TimeInForce } from '../../engine/index.js';
import type { OrderStatus } from '../../domain/orders/order.js';
import { Side as PbSide } from '../../gen/trading/v1/common_pb.js';
import {
  OrderStatus as PbStatus,
  OrderType as PbType,
  TimeInForce as PbTif,
} from '../../gen/trading/v1/orders_pb.js';

/**
 * Domain strings → protobuf enum numbers, for every order message (public and internal). The
 * other way is `fromPb`, so the two directions cannot disagree.
 */
export const PB_SIDES = { buy: PbSide.BUY, sell: PbSide.SELL } as const satisfies Record<
  Side,
  PbSide
>;
export const PB_TYPES = { limit: PbType.LIMIT, market: PbType.MARKET } as const satisfies Record<
  OrderType,
  PbType
>;
export const PB_TIFS = { GTC: PbTif.GTC, IOC: PbTif.IOC, FOK: PbTif.FOK } as const satisfies Record<
  TimeInForce,
  PbTif
>;
export const PB_STATUSES = {
  new: PbStatus.NEW,
  partially_filled: PbStatus.PARTIALLY_FILLED,
  filled: PbStatus.FILLED,
  canceled: PbStatus.CANCELED,
} as const satisfies Record<OrderStatus, PbStatus>;

/** The domain string of an enum number; undefined for UNSPECIFIED and unknown numbers. */
export function fromPb<T extends string>(
  table: Readonly<Record<T, number>>,
  value: number,
): T | undefined {
  for (const [name, number] of Object.entries(table) as [T, number][]) {
    if (number === value) return name;
  }
  return undefined;
}
