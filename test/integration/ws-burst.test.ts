import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startTestApp, TEST_REDIS_URL, type TestApp } from '../support/app.js';
import { WsClient } from '../support/ws-client.js';

const TRADES = 'trades.BTC-USD';
/** Entries one log read hands the gateway together (one Redis transaction, one XREAD reply). */
const BURST = 700;

describe('/ws: a burst the kernel takes at once is not a slow consumer', () => {
  let app: TestApp;
  let redis: Redis;
  const sockets: WsClient[] = [];

  before(async () => {
    app = await startTestApp({
      REDIS_URL: TEST_REDIS_URL,
      WS_SEND_HIGH_WATER_BYTES: '16384',
      STREAM_SEND_QUEUE_CONFLATE_BYTES: '16384',
      STREAM_SEND_QUEUE_MAX_BYTES: '32768',
      STREAM_HEARTBEAT_INTERVAL_MS: '300000',
      STREAM_IDLE_TIMEOUT_MS: '600000',
    });
    redis = new Redis(TEST_REDIS_URL, { keyPrefix: app.config.redis.keyPrefix });
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    redis.disconnect();
    await app.stop();
  });

  test('a reading client gets every entry of one log read, not closed 4509', async () => {
    const client = await WsClient.connect(app.httpUrl);
    sockets.push(client);
    client.send({ frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await client.until(() => client.market(TRADES).length > 0, 'the trades start');
    const key = `stream:${TRADES}`;
    const [top] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const last = top === undefined ? 0 : Number(top[0].split('-')[0]);
    // Every entry in one transaction: the gateway's tail reads them in one XREAD reply and
    // hands them to the subscriber in one turn, as after a publisher catching up.
    const multi = redis.multi();
    for (let i = 1; i <= BURST; i++) {
      const payload = JSON.stringify({
        type: 'trade',
        tradeId: last + i,
        price: 60_000,
        quantity: 1,
        takerSide: 'buy',
        timeMs: 1_765_000_000_000 + i,
      });
      multi.xadd(key, `${last + i}-0`, 'm', payload);
    }
    await multi.exec();
    await client.until(
      () =>
        client.closed !== undefined || client.market(TRADES).at(-1)?.seq === BigInt(last + BURST),
      `trades seq ${last + BURST}`,
    );
    assert.equal(client.closed, undefined, `closed: ${JSON.stringify(client.closed)}`);
  });
});
