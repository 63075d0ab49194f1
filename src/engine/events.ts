import type { RejectCode } from './reject-code.js';
import type { OrderType, Side, TimeInForce } from './types.js';

/**
 * Events are plain objects built only by the factories below, so every event of a type has
 * the same fields in the same order and JSON.stringify of two runs is byte-identical.
 */

export interface OrderAccepted {
  readonly type: 'accepted';
  readonly orderId: number;
  readonly ownerId: number;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly timeInForce: TimeInForce;
  /** 0 for market orders. */
  readonly price: number;
  readonly quantity: number;
  readonly postOnly: boolean;
}

export type CommandKind = 'place' | 'cancel' | 'amend';

export interface CommandRejected {
  readonly type: 'rejected';
  readonly command: CommandKind;
  readonly orderId: number;
  readonly code: RejectCode;
  /** Says what was wrong and what is allowed, readable by the order's owner. */
  readonly reason: string;
}

export interface TradeExecuted {
  readonly type: 'trade';
  /** Sequence per book, from 1 (see BookState.nextTradeId). */
  readonly tradeId: number;
  /** Always the maker's price. */
  readonly price: number;
  readonly quantity: number;
  readonly takerSide: Side;
  readonly makerOrderId: number;
  readonly makerOwnerId: number;
  readonly makerRemaining: number;
  readonly takerOrderId: number;
  readonly takerOwnerId: number;
  readonly takerRemaining: number;
}

/** The order's remainder now rests on the book. */
export interface OrderRested {
  readonly type: 'rested';
  readonly orderId: number;
  readonly side: Side;
  readonly price: number;
  readonly remaining: number;
  readonly priority: number;
}

export interface OrderAmended {
  readonly type: 'amended';
  readonly orderId: number;
  readonly price: number;
  /** New total quantity, fills included. */
  readonly quantity: number;
  /** Open quantity right after the amend, before any trade it causes. */
  readonly remaining: number;
  readonly priorityKept: boolean;
  readonly priority: number;
}

export type DoneReason =
  'filled' | 'cancelled' | 'ioc-expired' | 'fok-unfilled' | 'self-trade-prevented';

/** The order left the book (or never rested) and will get no more events. */
export interface OrderDone {
  readonly type: 'done';
  readonly orderId: number;
  readonly ownerId: number;
  readonly reason: DoneReason;
  /** Total filled over the order's life. */
  readonly filled: number;
  /** Open quantity removed without trading (0 when filled). */
  readonly remaining: number;
}

/** A price level's new total quantity after a command; 0 removes the level. */
export interface LevelChanged {
  readonly type: 'level';
  readonly side: Side;
  readonly price: number;
  readonly quantity: number;
}

export type EngineEvent =
  | OrderAccepted
  | CommandRejected
  | TradeExecuted
  | OrderRested
  | OrderAmended
  | OrderDone
  | LevelChanged;

export function accepted(
  orderId: number,
  ownerId: number,
  side: Side,
  orderType: OrderType,
  timeInForce: TimeInForce,
  price: number,
  quantity: number,
  postOnly: boolean,
): OrderAccepted {
  return {
    type: 'accepted',
    orderId,
    ownerId,
    side,
    orderType,
    timeInForce,
    price,
    quantity,
    postOnly,
  };
}

export function rejected(
  command: CommandKind,
  orderId: number,
  code: RejectCode,
  reason: string,
): CommandRejected {
  return { type: 'rejected', command, orderId, code, reason };
}

export function trade(
  tradeId: number,
  price: number,
  quantity: number,
  takerSide: Side,
  makerOrderId: number,
  makerOwnerId: number,
  makerRemaining: number,
  takerOrderId: number,
  takerOwnerId: number,
  takerRemaining: number,
): TradeExecuted {
  return {
    type: 'trade',
    tradeId,
    price,
    quantity,
    takerSide,
    makerOrderId,
    makerOwnerId,
    makerRemaining,
    takerOrderId,
    takerOwnerId,
    takerRemaining,
  };
}

export function rested(
  orderId: number,
  side: Side,
  price: number,
  remaining: number,
  priority: number,
): OrderRested {
  return { type: 'rested', orderId, side, price, remaining, priority };
}

export function amended(
  orderId: number,
  price: number,
  quantity: number,
  remaining: number,
  priorityKept: boolean,
  priority: number,
): OrderAmended {
  return { type: 'amended', orderId, price, quantity, remaining, priorityKept, priority };
}

export function done(
  orderId: number,
  ownerId: number,
  reason: DoneReason,
  filled: number,
  remaining: number,
): OrderDone {
  return { type: 'done', orderId, ownerId, reason, filled, remaining };
}

export function levelChanged(side: Side, price: number, quantity: number): LevelChanged {
  return { type: 'level', side, price, quantity };
}
