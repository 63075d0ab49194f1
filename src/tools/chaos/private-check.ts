import type pg from 'pg';
import { OrderStatus } from '../../gen/trading/v1/orders_pb.js';
import { fillKey, type PrivateView } from './private-view.js';

const STATUSES: Record<string, OrderStatus> = {
  new: OrderStatus.NEW,
  partially_filled: OrderStatus.PARTIALLY_FILLED,
  filled: OrderStatus.FILLED,
  canceled: OrderStatus.CANCELED,
};

/** Where a user's private stream and PostgreSQL disagree; every count must be 0. */
export interface PrivateFindings {
  /** Fills of the user's orders in `fills` that the stream never delivered. */
  readonly fillsMissing: number;
  /** Fills the stream delivered more than once, or that `fills` does not hold. */
  readonly fillsExtra: number;
  /** Orders whose latest execution report is not their stored status and filled quantity. */
  readonly ordersDiffering: number;
  /** Assets whose last `balances` message is not the stored available and reserved. */
  readonly balancesDiffering: number;
  /** The first few differences, readable, for the run's log. */
  readonly examples: readonly string[];
}

export const privateMismatches = (f: PrivateFindings): number =>
  f.fillsMissing + f.fillsExtra + f.ordersDiffering + f.balancesDiffering;

/**
 * Holds what a user's private stream delivered against what PostgreSQL holds for that user
 * (on a connection whose search_path is the deployment's schema): every fill of the user's
 * orders exactly once with its terms, each order's latest report at its stored state, and the
 * final balances. Run once the stream has caught up with the stream's head.
 */
export async function checkPrivateStream(
  db: pg.ClientBase,
  userId: string,
  view: PrivateView,
): Promise<PrivateFindings> {
  const examples: string[] = [];
  const note = (text: string) => {
    if (examples.length < 5) examples.push(`user ${userId}: ${text}`);
  };

  const { rows: fills } = await db.query<{
    trade_id: string;
    order_id: string;
    price: string;
    quantity: string;
    maker: boolean;
  }>(
    `SELECT f.trade_id::text, o.id::text AS order_id, f.price::text, f.quantity::text,
       o.id = f.maker_order_id AS maker
     FROM fills f JOIN orders o ON o.id IN (f.maker_order_id, f.taker_order_id)
     WHERE o.user_id = $1`,
    [userId],
  );
  const stored = new Set(
    fills.map((row) =>
      fillKey({
        tradeId: row.trade_id,
        orderId: row.order_id,
        price: BigInt(row.price),
        quantity: BigInt(row.quantity),
        maker: row.maker,
      }),
    ),
  );
  let fillsMissing = 0;
  for (const key of stored) {
    if (!view.fills.has(key)) {
      fillsMissing += 1;
      note(`fill ${key} not received`);
    }
  }
  let fillsExtra = 0;
  for (const [key, times] of view.fills) {
    const extra = stored.has(key) ? times - 1 : times;
    if (extra > 0) {
      fillsExtra += extra;
      note(`fill ${key} received ${times} times, stored ${stored.has(key) ? 'once' : 'never'}`);
    }
  }

  const { rows: orders } = await db.query<{ id: string; status: string; filled: string }>(
    'SELECT id::text, status, filled::text FROM orders WHERE user_id = $1',
    [userId],
  );
  let ordersDiffering = 0;
  for (const order of orders) {
    const seen = view.orders.get(order.id);
    if (
      seen === undefined ||
      seen.status !== STATUSES[order.status] ||
      seen.filled !== BigInt(order.filled)
    ) {
      ordersDiffering += 1;
      note(
        `order ${order.id} stored ${order.status} filled ${order.filled}, last report ${
          seen === undefined ? 'none' : `${OrderStatus[seen.status]} filled ${seen.filled}`
        }`,
      );
    }
  }
  // A report of an order PostgreSQL does not hold is as wrong as a missing one.
  const storedOrders = new Set(orders.map((order) => order.id));
  for (const orderId of view.orders.keys()) {
    if (!storedOrders.has(orderId)) {
      ordersDiffering += 1;
      note(`order ${orderId} reported, not stored`);
    }
  }

  const { rows: balances } = await db.query<{
    asset: string;
    available: string;
    reserved: string;
  }>('SELECT asset, available::text, reserved::text FROM balances WHERE user_id = $1', [userId]);
  let balancesDiffering = 0;
  const assets = new Set([...balances.map((row) => row.asset), ...view.balances.keys()]);
  for (const asset of assets) {
    const row = balances.find((b) => b.asset === asset);
    const seen = view.balances.get(asset);
    if (
      row === undefined ||
      seen?.available !== BigInt(row.available) ||
      seen.reserved !== BigInt(row.reserved)
    ) {
      balancesDiffering += 1;
      note(
        `${asset} stored ${row === undefined ? 'none' : `${row.available}/${row.reserved}`}, streamed ${
          seen === undefined ? 'none' : `${seen.available}/${seen.reserved}`
        } (available/reserved)`,
      );
    }
  }
  return { fillsMissing, fillsExtra, ordersDiffering, balancesDiffering, examples };
}
