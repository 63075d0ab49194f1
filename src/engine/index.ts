export { BPS_PER_UNIT, bandBounds, bandDeviation } from './price-band.js';
export { CHECKSUM_DEPTH, bookChecksum, checksumPayload, crc32, crc32Ascii } from './checksum.js';
export type {
  CommandKind,
  CommandRejected,
  DoneReason,
  EngineEvent,
  LevelChanged,
  OrderAccepted,
  OrderAmended,
  OrderDone,
  OrderRested,
  TradeExecuted,
} from './events.js';
export { MatchingEngine } from './matching-engine.js';
export { OrderBook } from './order-book.js';
export type { RejectCode } from './reject-code.js';
export { assertValidSpec } from './symbol-rules.js';
export type {
  AmendOrder,
  BookCommand,
  BookSnapshot,
  BookState,
  CancelOrder,
  EngineCommand,
  LevelView,
  OpenOrder,
  OrderBookOptions,
  OrderType,
  PlaceOrder,
  PriceBand,
  SelfTradePrevention,
  Side,
  SymbolSpec,
  TimeInForce,
} from './types.js';
