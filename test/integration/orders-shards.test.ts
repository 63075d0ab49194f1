import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_ORDERS_SETTINGS } from '../../src/wiring/orders.js';
import { captureLogger } from '../unit/adapters/support/observability.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

const [btc] = DEFAULT_ORDERS_SETTINGS.markets;
if (btc === undefined) throw new Error('no default market');
const USERS = 8;
const ROUNDS = 12;
const HOLDINGS = { USD: 10n ** 12n, BTC: 10n ** 12n, ETH: 10n ** 12n };

const causeCode = (error: unknown): string => {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error && 'code' in cause ? String(cause.code) : 'no code';
};

describe('two engine shards trading for the same users', () => {
  // BTC-USD and ETH-USD on shards of their own; every user trades on both.
  const { logger, lines } = captureLogger();
  const harness = new OrdersHarness(
    {
      markets: [
        { ...btc, shard: 'shard-btc' },
        {
          ...btc,
          shard: 'shard-eth',
          spec: { ...btc.spec, symbol: 'ETH-USD' },
          baseAsset: 'ETH',
        },
      ],
    },
    { logger },
  );
  before(() => harness.start());
  after(() => harness.stop());

  const batches = async (result: string) => {
    const metric = await harness.registry.getSingleMetric('engine_batches_total')?.get();
    return (metric?.values ?? [])
      .filter((v) => v.labels.result === result)
      .reduce((sum, v) => sum + v.value, 0);
  };

  test('say at start that they lock every balance a batch touches', () => {
    const started = lines.filter((line) => line.msg === 'engine shard started');
    assert.deepEqual(
      started.map((line) => [line.shard, line.balance_locks]),
      [
        ['shard-btc', 'touched'],
        ['shard-eth', 'touched'],
      ],
    );
  });

  test('never deadlock: each batch locks every balance it changes when it begins', async () => {
    const users = await Promise.all(Array.from({ length: USERS }, () => harness.user(HOLDINGS)));
    let n = 0;
    const order = (userId: number, symbol: string, side: 'buy' | 'sell', price: bigint) =>
      harness.orders.orders.place(userId, {
        symbol,
        side,
        type: 'limit',
        timeInForce: 'GTC',
        price,
        quantity: 1n,
        postOnly: false,
        clientOrderId: `o${String(++n)}`,
      });

    // Each round, every user rests a sell on one book and buys against the others' sells on
    // the other: the shards' batches keep settling makers that the other shard is locking.
    const outcomes: PromiseSettledResult<unknown>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      outcomes.push(
        ...(await Promise.allSettled(
          users.flatMap((userId, i) => {
            const [sellOn, buyOn] =
              (i + round) % 2 === 0 ? ['BTC-USD', 'ETH-USD'] : ['ETH-USD', 'BTC-USD'];
            return [order(userId, sellOn, 'sell', 100n), order(userId, buyOn, 'buy', 100n)];
          }),
        )),
      );
    }

    // A deadlock shows as UNAVAILABLE whose cause is PostgreSQL's 40P01.
    const failed = outcomes.flatMap((o) =>
      o.status === 'rejected' ? [`${String(o.reason)} (${causeCode(o.reason)})`] : [],
    );
    assert.deepEqual(failed, []);
    assert.equal(await batches('failed'), 0);
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM fills',
    );
    assert.ok(Number(rows[0]?.n) > USERS * ROUNDS * 0.5, `only ${rows[0]?.n ?? 0} trades`);
  });

  test('a client order id taken on one shard is ALREADY_EXISTS on the other, which writes nothing', async () => {
    const alice = await harness.user(HOLDINGS);
    const request = {
      clientOrderId: 'same-id',
      side: 'buy' as const,
      type: 'limit' as const,
      timeInForce: 'GTC' as const,
      price: 100n,
      quantity: 1n,
      postOnly: false,
    };
    const first = await harness.orders.orders.place(alice, { ...request, symbol: 'BTC-USD' });

    await assert.rejects(
      harness.orders.orders.place(alice, { ...request, symbol: 'ETH-USD' }),
      new RegExp(
        `client order id same-id is already order ${first.order.id}, a different order ` +
          '\\(symbol: BTC-USD, not ETH-USD\\)',
      ),
    );
    const { rows } = await harness.postgres.query<{ symbol: string }>(
      'SELECT symbol FROM orders WHERE user_id = $1',
      [alice],
    );
    assert.deepEqual(
      rows.map((row) => row.symbol),
      ['BTC-USD'],
    );
  });
});
