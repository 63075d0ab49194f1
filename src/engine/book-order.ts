import type { PriceLevel } from './price-level.js';

/**
 * A resting order and its node in its level's FIFO list. The links live in the order itself
 * (an intrusive list), so cancel by id is a Map lookup and an O(1) unlink, and orders are
 * pooled by the book to keep the hot path free of allocation.
 */
export class BookOrder {
  orderId = 0;
  ownerId = 0;
  isBuy = true;
  price = 0;
  /** Total quantity, fills included; always filled + remaining. */
  quantity = 0;
  filled = 0;
  remaining = 0;
  postOnly = false;
  priority = 0;
  prev: BookOrder | null = null;
  next: BookOrder | null = null;
  level: PriceLevel | null = null;
}
