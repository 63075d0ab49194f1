import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { DomainError } from '../../src/domain/errors.js';
import type { OrderResult } from '../../src/domain/orders/order.js';
import type { PlaceOrderRequest } from '../../src/domain/orders/order-requests.js';
import { BATCH_STEPS, type BatchLimits } from '../../src/adapters/orders/shard-runner.js';
import { metricValue } from '../unit/adapters/support/observability.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

/** The engine's spans, kept in memory (what the process exports over OTLP). */
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
);

let next = 0;
const order = (side: 'buy' | 'sell', price: number, quantity: number): PlaceOrderRequest => ({
  clientOrderId: `r-${++next}`,
  symbol: 'BTC-USD',
  side,
  type: 'limit',
  timeInForce: 'GTC',
  price: BigInt(price),
  quantity: BigInt(quantity),
  postOnly: false,
});

async function acknowledged(promises: Promise<OrderResult>[]): Promise<OrderResult[]> {
  const settled = await Promise.allSettled(promises);
  return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
}

describe('engine shard recovery', () => {
  const harness = new OrdersHarness({ batching: { maxBatchSize: 16, maxBatchDelayMs: 1 } });
  before(() => harness.start());
  after(() => harness.stop());

  test('a new leader rebuilds the exact book from PostgreSQL and fences the old one', async () => {
    const users = await Promise.all([harness.user(), harness.user(), harness.user()]);
    const acks = await acknowledged(
      Array.from({ length: 120 }, (_, i) =>
        harness.orders.orders.place(
          users[i % 3] ?? 0,
          order(i % 2 === 0 ? 'buy' : 'sell', 1_000 + ((i * 7) % 21), 1 + (i % 4)),
        ),
      ),
    );
    const oldRunner = harness.orders.shards.get('shard-0')!;
    const before = oldRunner.engine.book('BTC-USD')?.openOrders();

    await harness.restart();

    const runner = harness.orders.shards.get('shard-0');
    assert.equal(runner?.epoch, oldRunner.epoch + 1);
    assert.deepEqual(runner.engine.book('BTC-USD')?.openOrders(), before);
    // Every acknowledged order is stored.
    const { rows } = await harness.postgres.query<{ id: string }>(
      'SELECT id::text FROM orders WHERE id = ANY($1::bigint[])',
      [acks.map((a) => a.order.id)],
    );
    assert.equal(rows.length, acks.length);
    // No order was filled twice: fills add up to `filled`, never beyond the quantity.
    const { rows: mismatched } = await harness.postgres.query(
      `SELECT o.id FROM orders o LEFT JOIN fills f ON f.maker_order_id = o.id OR f.taker_order_id = o.id
       GROUP BY o.id, o.filled, o.quantity
       HAVING coalesce(sum(f.quantity), 0) <> o.filled OR o.filled > o.quantity`,
    );
    assert.deepEqual(mismatched, []);
    // The old runner has lost its epoch: its next batch is refused and it stops.
    const stale = oldRunner.submit({
      kind: 'place',
      userId: users[0],
      clientOrderId: 'stale-leader',
      symbol: 'BTC-USD',
      side: 'buy',
      type: 'limit',
      timeInForce: 'GTC',
      price: 10,
      quantity: 1,
      postOnly: false,
    });
    await assert.rejects(
      stale,
      (error: unknown) => error instanceof DomainError && error.code === 'unavailable',
    );
  });

  test('a new leader relays outbox rows its predecessor left unpublished', async () => {
    const alice = await harness.user();
    await harness.orders.relay.stop();
    await harness.orders.orders.place(alice, order('buy', 5, 1));
    const { rows } = await harness.postgres.query('SELECT 1 FROM outbox');
    assert.ok(rows.length > 0);

    await harness.restart();

    for (let i = 0; i < 100 && (await harness.orders.relay.measure()).pending > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal((await harness.orders.relay.measure()).pending, 0);
    // The execution report and the balance update of the order.
    assert.equal((await harness.orders.streamLog.read(`orders.${alice}`, 0, 10)).length, 2);
  });

  test('a failed batch transaction is UNAVAILABLE, rebuilds the book, and a retry fills once', async () => {
    const maker = await harness.user();
    const taker = await harness.user();
    await harness.orders.orders.place(maker, order('sell', 60_000, 1));
    const request = order('buy', 60_000, 1);
    // Break the write of fills only: the trade happens in memory, then the commit fails.
    await harness.postgres.query('ALTER TABLE fills RENAME TO fills_gone');
    try {
      await assert.rejects(harness.orders.orders.place(taker, request), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'unavailable');
        assert.match(error.message, /retry with the same client_order_id/);
        return true;
      });
    } finally {
      await harness.postgres.query('ALTER TABLE fills_gone RENAME TO fills');
    }

    const retried = await harness.orders.orders.place(taker, request);

    assert.equal(retried.order.status, 'filled');
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM fills WHERE taker_order_id = $1',
      [retried.order.id],
    );
    assert.equal(rows[0]?.n, '1');
  });

  test('a batch pipelined behind one that fails at COMMIT rolls back too, then runs again', async () => {
    const maker = await harness.user();
    const poisoner = await harness.user();
    const follower = await harness.user();
    await harness.orders.orders.place(maker, order('sell', 61_000, 5));
    const retriedBefore =
      (await metricValue(harness.registry, 'engine_commands_retried_total')) ?? 0;
    // A check that runs at COMMIT (deferred) and fails slowly: the batch holding the poisoned
    // order has written everything, so the next batch starts behind it while it commits.
    await harness.postgres.query(`
      CREATE FUNCTION poison_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.client_order_id LIKE 'poison-%' THEN
          PERFORM pg_sleep(0.3);
          RAISE EXCEPTION 'poisoned order %', NEW.client_order_id;
        END IF;
        RETURN NEW;
      END $$;
      CREATE CONSTRAINT TRIGGER poison_at_commit AFTER INSERT ON orders
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION poison_at_commit();`);
    let behind: Promise<OrderResult>;
    try {
      const poisoned = harness.orders.orders.place(poisoner, {
        ...order('buy', 61_000, 2),
        clientOrderId: 'poison-1',
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Planned on top of the poisoned batch: it trades with what is left of the maker's ask.
      behind = harness.orders.orders.place(follower, order('buy', 61_000, 3));
      await assert.rejects(poisoned, (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'unavailable');
        return true;
      });
    } finally {
      await harness.postgres.query(
        'DROP TRIGGER poison_at_commit ON orders; DROP FUNCTION poison_at_commit()',
      );
    }

    // Rolled back with the poisoned batch, through no fault of its own: run again on the
    // rebuilt book (the whole ask), instead of failing its caller.
    const { order: followed } = await behind;
    assert.equal(followed.status, 'filled');
    assert.equal(followed.filled, 3);
    assert.equal(
      (await metricValue(harness.registry, 'engine_commands_retried_total')) ?? 0,
      retriedBefore + 1,
    );
    // The rolled-back batch's span says so; the retry's span says where its time went.
    assert.ok(
      spans
        .getFinishedSpans()
        .some((s) => s.name === 'engine.batch' && s.attributes['engine.retried_commands'] === 1),
    );
    const committed = spans
      .getFinishedSpans()
      .filter((s) => s.name === 'engine.batch' && s.status.code !== SpanStatusCode.ERROR);
    assert.ok(committed.length > 0);
    for (const span of committed) {
      for (const step of BATCH_STEPS) {
        assert.equal(typeof span.attributes[`engine.${step}_ms`], 'number', step);
      }
    }
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM orders WHERE user_id = $1',
      [poisoner],
    );
    assert.equal(rows[0]?.n, '0');
    // Nothing of the poisoned batch landed: 2 lots of the ask are left, and its retry takes them.
    const retried = await harness.orders.orders.place(poisoner, {
      ...order('buy', 61_000, 2),
      clientOrderId: 'poison-1',
    });
    assert.equal(retried.order.filled, 2);
    assert.equal(retried.order.status, 'filled');
  });
});

/**
 * Records what the shards' own connections are sent, in order, with how many statements were
 * still unanswered on the same connection at the time (session setup left out, the settings
 * of the write shortened to `SET LOCAL`). Wrapping the
 * driver's overloaded query() is untyped by nature: the shape is checked here.
 */
function recordStatements(
  harness: OrdersHarness,
  log: string[],
  onSend?: (text: string) => void,
): void {
  const postgres = harness.postgres;
  const connectDedicated = postgres.connectDedicated.bind(postgres);
  (postgres as { connectDedicated: typeof connectDedicated }).connectDedicated = async (
    options,
  ) => {
    const client = await connectDedicated(options);
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    let unanswered = 0;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      const [config] = args;
      const sql = typeof config === 'string' ? config : ((config as { name?: string }).name ?? '?');
      const text = sql.startsWith('SET LOCAL') ? 'SET LOCAL' : sql;
      if (text === 'SET LOCAL' || !text.startsWith('SET ')) log.push(`${text}/${unanswered}`);
      unanswered += 1;
      onSend?.(text);
      const answered = query(...args);
      answered.then(
        () => (unanswered -= 1),
        () => (unanswered -= 1),
      );
      return answered;
    };
    return client;
  };
}

/**
 * A harness whose shards' connections are recorded (`log`) from their first batch of commands
 * on: the batch a new leader runs first, to publish its tickers, is left out.
 */
function recordedHarness(batching: BatchLimits, onSend?: (text: string) => void) {
  const harness = new OrdersHarness({ batching });
  const log: string[] = [];
  before(async () => {
    await harness.start();
    recordStatements(harness, log, onSend);
    await harness.restart();
    log.length = 0;
  });
  after(() => harness.stop());
  return { harness, log };
}

describe('engine shard transactions on one connection', () => {
  let taker = 0;
  let second: Promise<OrderResult> | undefined;
  const { harness, log } = recordedHarness(
    { maxBatchSize: 16, maxBatchDelayMs: 1, connections: 1 },
    (text) => {
      if (!text.startsWith('engine-write-batch') || second !== undefined || taker === 0) return;
      // Arrives while the first batch is writing: it becomes the next batch, started as soon
      // as the first has written, on the same connection.
      second = harness.orders.orders.place(taker, order('buy', 59_000, 1));
    },
  );

  test('a batch begins only after the one before it on its connection has committed', async () => {
    const maker = await harness.user();
    taker = await harness.user();
    await harness.orders.orders.place(maker, order('sell', 62_000, 1));
    await second;

    const transactions = log
      .map((entry) => entry.split('/')[0])
      .filter((text) => ['BEGIN', 'COMMIT', 'ROLLBACK'].includes(text ?? ''));
    assert.deepEqual(transactions, ['BEGIN', 'COMMIT', 'BEGIN', 'COMMIT']);
  });
});

/**
 * A pipelined batch's statements, each with how many were unanswered when it left: BEGIN goes
 * with the read (the idempotency lookup, the generic-plan settings, the rest of the read), and
 * COMMIT right behind the write.
 */
const PIPELINED_BATCH = [
  'BEGIN/0',
  'engine-find-existing-v2/1',
  'SET LOCAL/2',
  'engine-open-batch-v5/3',
  'engine-write-batch-v10/0',
  'COMMIT/1',
];

describe('engine shard statements, pipelined', () => {
  const { harness, log } = recordedHarness({ maxBatchSize: 16, maxBatchDelayMs: 1 });

  test('BEGIN travels with the read, COMMIT with the write: two round trips', async () => {
    const alice = await harness.user();
    const from = log.length;
    await harness.orders.orders.place(alice, order('buy', 100, 1));

    assert.deepEqual(log.slice(from), PIPELINED_BATCH);
  });

  test('a COMMIT sent behind a write that fails commits nothing, and the shard goes on', async () => {
    const maker = await harness.user();
    const taker = await harness.user();
    await harness.orders.orders.place(maker, order('sell', 60_000, 1));
    const request = order('buy', 60_000, 1);
    const from = log.length;
    await harness.postgres.query('ALTER TABLE fills RENAME TO fills_gone');
    try {
      await assert.rejects(harness.orders.orders.place(taker, request), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'unavailable');
        return true;
      });
    } finally {
      await harness.postgres.query('ALTER TABLE fills_gone RENAME TO fills');
    }

    assert.deepEqual(log.slice(from), [...PIPELINED_BATCH, 'ROLLBACK/0']);
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM orders WHERE user_id = $1',
      [taker],
    );
    assert.equal(rows[0]?.n, '0');
    const retried = await harness.orders.orders.place(taker, request);
    assert.equal(retried.order.status, 'filled');
  });
});

describe('engine shard statements, not pipelined (embedded PGlite)', () => {
  const { harness, log } = recordedHarness({
    maxBatchSize: 16,
    maxBatchDelayMs: 1,
    connections: 1,
    pipeline: false,
  });

  test('each statement waits for the answer to the one before it', async () => {
    await harness.orders.orders.place(await harness.user(), order('buy', 100, 1));

    assert.deepEqual(log, [
      'BEGIN/0',
      'engine-find-existing-v2/0',
      'SET LOCAL/0',
      'engine-open-batch-v5/0',
      'engine-write-batch-v10/0',
      'COMMIT/0',
    ]);
  });
});
