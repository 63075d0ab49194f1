import type { BookOrder } from './book-order.js';

const EMPTY = 0; // order ids are positive, so 0 marks a free slot
const TWO_POW_32 = 4_294_967_296;

/**
 * Open orders by id: an open-addressing hash table (linear probing) over a Float64Array of
 * keys, sized to stay at most half full.
 *
 * Why not a Map: a Map under constant insert/delete churn keeps deleted entries until it
 * rehashes the whole table, stalling the insert that triggers it (docs/benchmarks.md,
 * "Matching engine", "Before and after"). Here deletion shifts the following
 * entries back into place instead of leaving tombstones, so the table only ever rehashes
 * when it grows, and a steady book never does.
 */
export class OrderIndex {
  private keys: Float64Array;
  private values: (BookOrder | null)[];
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let capacity = 16;
    while (capacity < initialCapacity * 2) capacity *= 2;
    this.keys = new Float64Array(capacity);
    this.values = new Array<BookOrder | null>(capacity).fill(null);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count;
  }

  get(orderId: number): BookOrder | undefined {
    const keys = this.keys;
    const mask = this.mask;
    for (let slot = slotOf(orderId, mask); ; slot = (slot + 1) & mask) {
      const key = keys[slot];
      if (key === orderId) return this.values[slot] ?? undefined;
      if (key === EMPTY) return undefined;
    }
  }

  has(orderId: number): boolean {
    return this.get(orderId) !== undefined;
  }

  /** Adds an order whose id is not in the index (the book checks duplicates first). */
  add(order: BookOrder): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    const mask = this.mask;
    let slot = slotOf(order.orderId, mask);
    while (keys[slot] !== EMPTY) slot = (slot + 1) & mask;
    keys[slot] = order.orderId;
    this.values[slot] = order;
    this.count += 1;
  }

  delete(orderId: number): boolean {
    if (orderId === EMPTY) return false;
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let hole = slotOf(orderId, mask);
    for (; ; hole = (hole + 1) & mask) {
      const key = keys[hole];
      if (key === orderId) break;
      if (key === EMPTY) return false;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole whenever
    // their home slot does not lie cyclically in (hole, slot], so every lookup still finds
    // them without tombstones.
    for (let slot = (hole + 1) & mask; ; slot = (slot + 1) & mask) {
      const key = keys[slot] ?? EMPTY;
      if (key === EMPTY) break;
      const home = slotOf(key, mask);
      const stays = hole < slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (!stays) {
        keys[hole] = key;
        values[hole] = values[slot] ?? null;
        hole = slot;
      }
    }
    keys[hole] = EMPTY;
    values[hole] = null;
    this.count -= 1;
    return true;
  }

  /** The orders, in no particular order. */
  orders(): BookOrder[] {
    const result: BookOrder[] = [];
    for (const order of this.values) if (order !== null) result.push(order);
    return result;
  }

  private grow(): void {
    const old = this.values;
    const capacity = this.keys.length * 2;
    this.keys = new Float64Array(capacity);
    this.values = new Array<BookOrder | null>(capacity).fill(null);
    this.mask = capacity - 1;
    this.count = 0;
    for (const order of old) if (order !== null) this.add(order);
  }
}

/**
 * Home slot of a safe-integer id: both 32-bit halves mixed with multiplicative hashing, so
 * sequential ids spread out and ids above 2^32 still hash on all their bits.
 */
function slotOf(orderId: number, mask: number): number {
  const low = orderId >>> 0;
  const high = (orderId / TWO_POW_32) >>> 0;
  let hash = Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1);
  hash ^= hash >>> 16;
  return hash & mask;
}
