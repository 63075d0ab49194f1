import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { OrderStatus } from '../../../src/gen/trading/v1/orders_pb.js';
import type { CallResult } from '../../../src/tools/chaos/grpc-calls.js';
import { Trader, type OrderGateway, type PlaceResponse } from '../../../src/tools/chaos/trader.js';
import { RETRY_AFTER_KEY } from '../../../src/shared/grpc/error-metadata.js';
import { until } from '../../support/stream-client.js';

function refusal(message: string, retryAfterMs?: number): ServiceError {
  const metadata = new Metadata();
  if (retryAfterMs !== undefined) metadata.set(RETRY_AFTER_KEY, String(retryAfterMs));
  return Object.assign(new Error(message), {
    code: status.RESOURCE_EXHAUSTED,
    details: message,
    metadata,
  });
}

/** An api whose orders all rest, with the platform's open-order quota and a rate limit. */
class QuotaGateway implements OrderGateway {
  readonly open = new Set<string>();
  throttleNext = 0;
  #next = 0;

  constructor(private readonly limit: number) {}

  async place(): Promise<CallResult<PlaceResponse>> {
    // A turn of the event loop, as a network answer takes, so the test's timer runs.
    await turn();
    if (this.throttleNext > 0) {
      this.throttleNext -= 1;
      return { ok: false, error: refusal('too many requests', 5) };
    }
    if (this.open.size >= this.limit) {
      const message = `you have ${this.open.size} open orders; the limit is ${this.limit}: cancel one first`;
      return { ok: false, error: refusal(message) };
    }
    const orderId = String((this.#next += 1));
    this.open.add(orderId);
    const order = { orderId, clientOrderId: orderId, status: OrderStatus.NEW };
    return { ok: true, response: { order, replayed: false } };
  }

  async cancel(orderId: string): Promise<CallResult<{ order: PlaceResponse['order'] }>> {
    await turn();
    this.open.delete(orderId);
    return {
      ok: true,
      response: { order: { orderId, clientOrderId: orderId, status: OrderStatus.CANCELED } },
    };
  }
}

const options = {
  name: 't',
  seed: 7,
  symbol: 'BTC-USD',
  mid: 1_000,
  thinkMs: 0,
  giveUpMs: 200,
  // Never cancels of its own accord, so it reaches the quota at once.
  cancelShare: 0,
};

test('a trader at the open-order quota cancels one and places again instead of giving up', async () => {
  const gateway = new QuotaGateway(3);
  const trader = new Trader(gateway, { userId: '1' }, options);
  trader.start();
  // Without cancels it would stay at 3 places, each further one given up after 200 ms.
  await until(() => trader.stats.places >= 10, '10 places');
  await trader.stop();
  assert.equal(trader.stats.abandoned, 0, trader.stats.abandonedBy.join('; '));
  assert.ok(trader.stats.cancels >= trader.stats.places - 3, `${trader.stats.cancels} cancels`);
  assert.ok(gateway.open.size <= 3);
});

test('a rate limit (a retry-after given) is waited out, not answered with cancels', async () => {
  // No quota in reach: a busy machine can let the trader place hundreds before `until` looks.
  const gateway = new QuotaGateway(Number.MAX_SAFE_INTEGER);
  gateway.throttleNext = 2;
  const trader = new Trader(gateway, { userId: '1' }, options);
  trader.start();
  await until(() => trader.stats.places >= 5, '5 places');
  await trader.stop();
  assert.equal(trader.stats.cancels, 0);
  assert.equal(trader.stats.retries, 2);
  assert.equal(trader.stats.abandoned, 0);
});
