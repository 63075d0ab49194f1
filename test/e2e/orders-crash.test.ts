import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metadata, status, type Client } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  OrderService,
  OrderStatus,
  OrderType,
  TimeInForce,
} from '../../src/gen/trading/v1/orders_pb.js';
import { dropSchema, TEST_DATABASE_URL, TEST_REDIS_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { deploymentEnv, spawnApp, type AppProcess } from '../support/process.js';

/**
 * Issue 6: "A test kills the engine process mid-load (SIGKILL) and checks every acknowledged
 * order is in PostgreSQL and in the rebuilt book, and no order was filled twice."
 *
 * One ROLE=all process on the real PostgreSQL (a schema of its own) and Redis takes orders from
 * several concurrent gRPC clients and is SIGKILLed after some hundreds of acknowledgements,
 * with calls in flight. A second process on the same schema and Redis prefix rebuilds the book;
 * the assertions compare what was acknowledged, what PostgreSQL holds and what the new process
 * trades against. No assertion depends on timing: where the kill lands only changes which
 * orders are acknowledged, not what must hold for them.
 */

const SYMBOL = 'BTC-USD';
const USERS = 6;
const WORKERS_PER_USER = 3;
const KILL_AFTER_ACKS = 400;
/** Plenty of both assets, so no order is refused for funds: every refusal would be noise. */
const DEMO = { USD: 1_000_000_000_000n, BTC: 100_000_000_000n };
/** Default market BTC-USD: 1 lot × 1 tick = 1 cent; 1 lot = 1,000,000 sat. */
const BASE_MINOR_PER_LOT = 1_000_000n;
const OPEN = ['new', 'partially_filled'];

interface PbOrder {
  orderId: string;
  clientOrderId: string;
  status: OrderStatus;
  quantity: bigint;
  filledQuantity: bigint;
}
interface PlaceResponse {
  order: PbOrder;
  fills: { tradeId: string; price: bigint; quantity: bigint; maker: boolean }[];
}
interface PlaceRequest {
  clientOrderId: string;
  symbol: string;
  side: Side;
  type: OrderType;
  timeInForce: TimeInForce;
  price: bigint;
  quantity: bigint;
}
interface User {
  readonly name: string;
  readonly id: number;
  readonly auth: Metadata;
}
interface Ack {
  readonly user: User;
  readonly request: PlaceRequest;
  readonly order: PbOrder;
}
interface OrderRow {
  id: string;
  user_id: string;
  client_order_id: string;
  side: string;
  status: string;
  price: string;
  reserve_price: string;
  quantity: string;
  filled: string;
  priority: string;
}

const STATUS_NAME: Record<number, string> = {
  [OrderStatus.NEW]: 'new',
  [OrderStatus.PARTIALLY_FILLED]: 'partially_filled',
  [OrderStatus.FILLED]: 'filled',
  [OrderStatus.CANCELED]: 'canceled',
};

/** Deterministic order flow per worker (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Resting limits around 1,000 (they cross each other often), aggressive IOCs and markets. */
function nextRequest(rand: () => number, clientOrderId: string): PlaceRequest {
  const side = rand() < 0.5 ? Side.BUY : Side.SELL;
  const quantity = BigInt(1 + Math.floor(rand() * 5));
  const roll = rand();
  if (roll < 0.1) {
    return {
      clientOrderId,
      symbol: SYMBOL,
      side,
      type: OrderType.MARKET,
      timeInForce: TimeInForce.IOC,
      price: 0n,
      quantity,
    };
  }
  const offset = Math.floor(rand() * 11) - 5; // buys 995..1005 meet sells 995..1005
  return {
    clientOrderId,
    symbol: SYMBOL,
    side,
    type: OrderType.LIMIT,
    timeInForce: roll < 0.25 ? TimeInForce.IOC : TimeInForce.GTC,
    price: BigInt(1_000 + offset),
    quantity,
  };
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

async function signUp(app: AppProcess, name: string): Promise<User> {
  const auth = grpcClient(app.grpcAddress, AuthService);
  try {
    const credentials = { username: name, password: 'long enough password' };
    const registered = await unary(auth, 'register', credentials);
    assert.equal(registered.error, null, `register ${name}`);
    const { error, response } = await unary<{ userId: string; tokens: { accessToken: string } }>(
      auth,
      'login',
      credentials,
    );
    assert.equal(error, null, `login ${name}`);
    return { name, id: Number(response!.userId), auth: bearer(response!.tokens.accessToken) };
  } finally {
    auth.close();
  }
}

const place = (client: Client, user: User, request: PlaceRequest) =>
  unary<PlaceResponse>(client, 'placeOrder', request, user.auth);

test('SIGKILL of the engine mid-load loses no acknowledged order and fills none twice', async (t) => {
  const schema = uniqueName('crash');
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-crash-'));
  const redisPrefix = `${schema}:`;
  const env = {
    // The second process shares the first one's schema, Redis keys and signing keys.
    ...deploymentEnv(schema, dataDir),
    ROLE: 'all',
    PG_POOL_MAX: '6',
    AUTH_DEMO_BALANCES: `USD=${DEMO.USD},BTC=${DEMO.BTC}`,
    USER_RATE_PER_S: '100000',
    USER_RATE_BURST: '100000',
    LOG_LEVEL: 'info',
    // No simulator bots: every order and trade in the schema must come from this test.
    SIMULATOR_ENABLED: 'false',
  };
  const db = new pg.Client({
    connectionString: TEST_DATABASE_URL,
    options: `-c search_path=${schema}`,
  });
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  const apps: AppProcess[] = [];
  const clients: Client[] = [];
  try {
    // ---- Phase 1: load, then SIGKILL with calls in flight. --------------------------------
    const first = await spawnApp(env);
    apps.push(first);
    await first.waitForLog('app started', 60_000);
    const users: User[] = [];
    for (let i = 0; i < USERS; i += 1) users.push(await signUp(first, `crash_${i}`));

    const acks: Ack[] = [];
    /** Calls that failed or were cut off once the kill was under way: never acknowledged. */
    const inFlight: { user: User; request: PlaceRequest; code: status | undefined }[] = [];
    const refusedBeforeKill: string[] = [];
    const phase = { killScheduled: false, killed: false };
    // A function, so the checks below are not narrowed by the loop condition.
    const killedNow = () => phase.killed;
    // A few milliseconds after the threshold, so the kill lands anywhere in a batch's life:
    // queued, inside its transaction, or committed but not yet answered.
    const kill = () => {
      if (phase.killScheduled) return;
      phase.killScheduled = true;
      setTimeout(
        () => {
          phase.killed = true;
          first.child.kill('SIGKILL');
        },
        Math.floor(Math.random() * 5),
      );
    };

    const firstClients = users.map(() => grpcClient(first.grpcAddress, OrderService));
    clients.push(...firstClients);
    const worker = async (u: number, w: number) => {
      const user = users[u]!;
      const client = firstClients[u]!;
      const rand = random(1 + u * 100 + w);
      for (let i = 0; !killedNow(); i += 1) {
        const request = nextRequest(rand, `w${w}-${i}`);
        const { error, response } = await place(client, user, request);
        if (error === null && response !== undefined) {
          acks.push({ user, request, order: response.order });
          if (acks.length >= KILL_AFTER_ACKS) kill();
        } else if (killedNow()) {
          inFlight.push({ user, request, code: error?.code });
        } else {
          refusedBeforeKill.push(`${error?.code}: ${error?.details}`);
        }
      }
    };
    await Promise.all(
      users.flatMap((_, u) => Array.from({ length: WORKERS_PER_USER }, (__, w) => worker(u, w))),
    );
    assert.equal(await first.exited, 'SIGKILL');
    for (const client of firstClients) client.close();
    assert.deepEqual(refusedBeforeKill, [], 'nothing is refused under this load');
    assert.ok(acks.length >= KILL_AFTER_ACKS);
    // Once acknowledged, a response is never a failure: codes of the cut-off calls.
    for (const { code } of inFlight) {
      assert.ok(
        code === status.UNAVAILABLE || code === status.CANCELLED || code === status.INTERNAL,
        `an in-flight call fails as unavailable, not ${code}`,
      );
    }

    // ---- Phase 2: a new process on the same schema and Redis prefix. -----------------------
    const second = await spawnApp(env);
    apps.push(second);
    await second.waitForLog('app started', 60_000);
    await db.connect();
    await redis.connect();

    const ordersById = async () => {
      const { rows } = await db.query<OrderRow>(
        `SELECT id::text, user_id::text, client_order_id, side, status, price::text,
           reserve_price::text, quantity::text, filled::text, priority::text
         FROM orders ORDER BY id`,
      );
      return new Map(rows.map((row) => [row.id, row]));
    };
    const stored = await ordersById();

    // 1. Every acknowledged order is in PostgreSQL, as acknowledged or further along.
    for (const { user, request, order } of acks) {
      const row = stored.get(order.orderId);
      assert.ok(row !== undefined, `acknowledged order ${order.orderId} is stored`);
      assert.equal(row.user_id, String(user.id));
      assert.equal(row.client_order_id, request.clientOrderId);
      assert.equal(row.quantity, String(order.quantity));
      const acked = STATUS_NAME[order.status];
      if (acked === 'filled' || acked === 'canceled') {
        assert.equal(row.status, acked, `order ${order.orderId} was done when acknowledged`);
        assert.equal(row.filled, String(order.filledQuantity));
      } else {
        assert.ok(BigInt(row.filled) >= order.filledQuantity);
      }
    }
    // No order in PostgreSQL that no client sent (every stored one maps to a sent request).
    const sent = new Set(
      [...acks, ...inFlight].map(({ user, request }) => `${user.id}/${request.clientOrderId}`),
    );
    for (const row of stored.values()) {
      assert.ok(sent.has(`${row.user_id}/${row.client_order_id}`), `order ${row.id} was sent`);
    }

    // 2a. The rebuilt book holds exactly the open orders in PostgreSQL (count at start-up), and
    //     the open-order quota counters were reconciled with them.
    const openByUser = new Map<string, number>();
    let openCount = 0;
    for (const row of stored.values()) {
      if (!OPEN.includes(row.status)) continue;
      openCount += 1;
      openByUser.set(row.user_id, (openByUser.get(row.user_id) ?? 0) + 1);
    }
    const started = await second.waitForLog('engine shard started');
    assert.equal(started.open_orders, openCount, 'the rebuilt book has every open order');
    assert.ok(openCount > 0, 'orders rest in the book at the kill');
    const reconciled = await second.waitForLog('open-order quota reconciled');
    assert.equal(reconciled.units, openCount);
    for (const user of users) {
      const held = await redis.get(`${redisPrefix}quota:open_orders:${user.id}`);
      assert.equal(Number(held ?? 0), openByUser.get(String(user.id)) ?? 0, `${user.name} quota`);
    }
    // 2b. The new process reports every order as PostgreSQL has it (tokens survive too).
    const orders = grpcClient(second.grpcAddress, OrderService);
    clients.push(orders);
    for (const user of users) {
      const seen = new Map<string, PbOrder>();
      let pageToken = '';
      do {
        const { error, response } = await unary<{ orders: PbOrder[]; nextPageToken: string }>(
          orders,
          'listOrders',
          { symbol: SYMBOL, pageSize: 100, pageToken },
          user.auth,
        );
        assert.equal(error, null);
        for (const order of response!.orders) seen.set(order.orderId, order);
        pageToken = response!.nextPageToken;
      } while (pageToken !== '');
      const mine = [...stored.values()].filter((row) => row.user_id === String(user.id));
      assert.equal(seen.size, mine.length, `${user.name} lists every stored order`);
      for (const row of mine) {
        const listed = seen.get(row.id);
        assert.equal(listed?.clientOrderId, row.client_order_id);
        assert.equal(STATUS_NAME[listed.status], row.status);
        assert.equal(String(listed.filledQuantity), row.filled);
      }
    }

    // 3 + 4 right after the restart, before any new traffic.
    await assertLedger(db, users.length);

    // 5. Retrying a call cut off by the kill returns the committed order or places it once.
    const before = await ordersById();
    let replayed = 0;
    let placedNow = 0;
    for (const { user, request } of inFlight) {
      const committed = [...before.values()].find(
        (row) => row.user_id === String(user.id) && row.client_order_id === request.clientOrderId,
      );
      const retry = await place(orders, user, request);
      const again = await place(orders, user, request);
      assert.equal(retry.error, null, `retry of ${request.clientOrderId}`);
      assert.equal(again.error, null);
      assert.equal(again.response?.order.orderId, retry.response?.order.orderId);
      if (committed === undefined) {
        placedNow += 1;
        assert.ok(!before.has(retry.response!.order.orderId), 'a new order, not someone else’s');
      } else {
        replayed += 1;
        assert.equal(retry.response?.order.orderId, committed.id, 'the committed order');
      }
    }
    const afterRetries = await ordersById();
    assert.equal(afterRetries.size, before.size + placedNow, 'each retry placed at most once');
    const { rows: duplicated } = await db.query(
      'SELECT user_id, client_order_id FROM orders GROUP BY 1, 2 HAVING count(*) > 1',
    );
    assert.deepEqual(duplicated, []);

    // 2c. The rebuilt book trades exactly with PostgreSQL's open orders, in price-time order:
    //     a new user sweeps each side with one IOC and the makers must be precisely those rows.
    const sweeper = await signUp(second, 'crash_sweeper');
    const open = [...afterRetries.values()].filter((row) => OPEN.includes(row.status));
    const byPriceTime = (sign: bigint) => (a: OrderRow, b: OrderRow) => {
      const price = (BigInt(a.price) - BigInt(b.price)) * sign;
      if (price !== 0n) return price < 0n ? -1 : 1;
      return Number(BigInt(a.priority) - BigInt(b.priority));
    };
    const asks = open.filter((row) => row.side === 'sell').sort(byPriceTime(1n));
    const bids = open.filter((row) => row.side === 'buy').sort(byPriceTime(-1n));
    assert.ok(asks.length + bids.length > 0);
    for (const [side, makers] of [
      [Side.BUY, asks],
      [Side.SELL, bids],
    ] as const) {
      if (makers.length === 0) continue;
      const remaining = (row: OrderRow) => BigInt(row.quantity) - BigInt(row.filled);
      const quantity = makers.reduce((sum, row) => sum + remaining(row), 0n);
      assert.ok(quantity <= 10_000n, 'one sweep fits the maximum order size');
      const sweep = await place(orders, sweeper, {
        clientOrderId: `sweep-${side}`,
        symbol: SYMBOL,
        side,
        type: OrderType.LIMIT,
        timeInForce: TimeInForce.IOC,
        price: BigInt(makers.at(-1)!.price),
        quantity,
      });
      assert.equal(sweep.error, null);
      assert.equal(sweep.response?.order.status, OrderStatus.FILLED);
      assert.equal(sweep.response.order.filledQuantity, quantity);
      const { rows: fills } = await db.query<{ maker: string; quantity: string; price: string }>(
        `SELECT maker_order_id::text AS maker, quantity::text, price::text FROM fills
         WHERE taker_order_id = $1 ORDER BY trade_id`,
        [sweep.response.order.orderId],
      );
      assert.deepEqual(
        fills,
        makers.map((row) => ({
          maker: row.id,
          quantity: String(remaining(row)),
          price: row.price,
        })),
        'the sweep trades with every open order of PostgreSQL, in price-time order, once',
      );
    }
    const { rows: stillOpen } = await db.query(
      `SELECT id FROM orders WHERE symbol = $1 AND status IN ('new', 'partially_filled')`,
      [SYMBOL],
    );
    assert.deepEqual(stillOpen, []);

    // 3 + 4 again, after retries and sweeps on the new process.
    await assertLedger(db, users.length + 1);
    t.diagnostic(
      `acks ${acks.length}, in flight ${inFlight.length} (replayed ${replayed}, placed ${placedNow}), open at kill ${openCount}`,
    );
  } finally {
    for (const client of clients) client.close();
    for (const app of apps) {
      if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
      await app.exited;
    }
    await db.end().catch(() => undefined);
    if (redis.status === 'ready') {
      const keys = await redis.keys(`${redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    } else {
      redis.disconnect();
    }
    await dropSchema(TEST_DATABASE_URL, schema);
    await rm(dataDir, { recursive: true, force: true });
  }
});

/**
 * 3. No order filled twice: fills add up to `filled`, never beyond the quantity, trade ids
 *    are 1..N without gap or repeat and the book's counter is next.
 * 4. Balances conserved: per asset, available + reserved over every user is what was
 *    deposited, and each user's `reserved` is exactly what their open orders hold.
 */
async function assertLedger(db: pg.Client, users: number): Promise<void> {
  const { rows: mismatched } = await db.query(
    `SELECT o.id, o.filled, o.quantity, coalesce(sum(f.quantity), 0) AS fills FROM orders o
     LEFT JOIN fills f ON f.maker_order_id = o.id OR f.taker_order_id = o.id
     GROUP BY o.id, o.filled, o.quantity
     HAVING coalesce(sum(f.quantity), 0) <> o.filled OR o.filled > o.quantity`,
  );
  assert.deepEqual(mismatched, [], 'every order’s fills add up to its filled quantity');
  const { rows: selfFills } = await db.query(
    'SELECT trade_id FROM fills WHERE maker_order_id = taker_order_id',
  );
  assert.deepEqual(selfFills, []);
  const { rows: tradeIds } = await db.query<{
    n: string;
    d: string;
    lo: string | null;
    hi: string | null;
  }>(
    `SELECT count(*)::text AS n, count(DISTINCT trade_id)::text AS d, min(trade_id)::text AS lo,
       max(trade_id)::text AS hi FROM fills WHERE symbol = $1`,
    [SYMBOL],
  );
  const ids = tradeIds[0]!;
  if (Number(ids.n) > 0) {
    assert.equal(ids.lo, '1');
    assert.equal(ids.d, ids.n, 'no trade id repeats');
    assert.equal(ids.hi, ids.n, 'trade ids 1..N: no gap');
  }
  const { rows: book } = await db.query<{ next: string }>(
    'SELECT next_trade_id::text AS next FROM books WHERE symbol = $1',
    [SYMBOL],
  );
  assert.equal(Number(book[0]?.next ?? 1), Number(ids.n) + 1, 'the book counts every trade');

  const { rows: totals } = await db.query<{ asset: string; total: string; users: string }>(
    `SELECT asset, sum(available + reserved)::text AS total, count(*)::text AS users
     FROM balances GROUP BY asset ORDER BY asset`,
  );
  const { rows: userCount } = await db.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM users',
  );
  assert.equal(Number(userCount[0]?.n), users);
  assert.deepEqual(
    totals,
    [
      { asset: 'BTC', total: String(DEMO.BTC * BigInt(users)), users: String(users) },
      { asset: 'USD', total: String(DEMO.USD * BigInt(users)), users: String(users) },
    ],
    'balances are conserved',
  );
  const { rows: reservations } = await db.query(
    `WITH held AS (
       SELECT user_id, CASE side WHEN 'buy' THEN 'USD' ELSE 'BTC' END AS asset,
         sum((quantity - filled) * CASE side WHEN 'buy' THEN reserve_price ELSE $1::bigint END)
           AS reserved
       FROM orders WHERE status IN ('new', 'partially_filled') GROUP BY 1, 2
     )
     SELECT b.user_id, b.asset, b.reserved, coalesce(h.reserved, 0) AS held FROM balances b
     LEFT JOIN held h USING (user_id, asset)
     WHERE b.reserved <> coalesce(h.reserved, 0)`,
    [BASE_MINOR_PER_LOT.toString()],
  );
  assert.deepEqual(reservations, [], 'reserved balances are what open orders hold');
}
