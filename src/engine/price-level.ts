import type { BookOrder } from './book-order.js';
import type { Side } from './types.js';

/** One price of one side: its orders in time priority (FIFO) and their total open quantity. */
export class PriceLevel {
  readonly side: Side;
  price = 0;
  /** Sort key: levels of a side are kept in ascending key order with the best last. */
  key = 0;
  quantity = 0;
  count = 0;
  head: BookOrder | null = null;
  tail: BookOrder | null = null;
  /** Command number that last reported this level as changed (level-change events). */
  stamp = 0;

  constructor(side: Side) {
    this.side = side;
  }

  append(order: BookOrder): void {
    order.level = this;
    order.prev = this.tail;
    order.next = null;
    if (this.tail === null) this.head = order;
    else this.tail.next = order;
    this.tail = order;
    this.quantity += order.remaining;
    this.count += 1;
  }

  unlink(order: BookOrder): void {
    const { prev, next } = order;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    order.prev = null;
    order.next = null;
    order.level = null;
    this.quantity -= order.remaining;
    this.count -= 1;
  }
}
