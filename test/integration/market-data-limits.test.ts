import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { Metadata, type Client } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import {
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import {
  dropRedisKeys,
  sample,
  startTestApp,
  TEST_REDIS_URL,
  type TestApp,
} from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { ConnectStreamRecorder, subscribe, until } from '../support/stream-client.js';
import { WsClient } from '../support/ws-client.js';

/**
 * Public market data is limited per client address, alike on native gRPC, Connect, gRPC-Web
 * and /ws: streams open at once on a process (STREAM_MAX_PER_IP), and subscribes over time
 * (SUBSCRIBE_IP_*, in Redis for every pod). The apps trust loopback as a proxy, so each test
 * names its client addresses in X-Forwarded-For (`x-forwarded-for` metadata on gRPC).
 */

const TRANSPORTS = ['grpc', 'connect', 'grpc-web', 'websocket'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** One Subscribe: 'open' once its first message came, or the code and message it failed with. */
interface Opened {
  readonly outcome: 'open' | { readonly code: number; readonly message: string };
  close(): void;
}

function subscriber(app: TestApp) {
  const grpc: Client = grpcClient(app.grpcAddress, MarketDataService);
  const open: Opened[] = [];
  const connect = (kind: 'connect' | 'grpc-web', address: string) => {
    const make = kind === 'connect' ? createConnectTransport : createGrpcWebTransport;
    const client = createClient(
      MarketDataService,
      make({ baseUrl: app.httpUrl, httpVersion: '1.1' }),
    );
    return new ConnectStreamRecorder<SubscribeResponse>((signal) =>
      client.subscribe(
        { symbols: ['BTC-USD'] },
        { signal, headers: { 'x-forwarded-for': address } },
      ),
    );
  };
  const outcomeOf = (error: { code?: number; message: string } | undefined) =>
    error === undefined ? ('open' as const) : { code: error.code ?? -1, message: error.message };

  async function subscribeFrom(transport: Transport, address: string): Promise<Opened> {
    let opened: Opened;
    if (transport === 'websocket') {
      const ws = await WsClient.connect(app.httpUrl, { 'x-forwarded-for': address });
      ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
      await ws.until(() => ws.market().length > 0 || ws.errors().length > 0, 'a message');
      const [error] = ws.errors();
      opened = {
        outcome: outcomeOf(error),
        close: () => {
          ws.close();
        },
      };
    } else if (transport === 'grpc') {
      const metadata = new Metadata();
      metadata.set('x-forwarded-for', address);
      const stream = subscribe<SubscribeResponse>(
        grpc,
        'subscribe',
        { symbols: ['BTC-USD'] },
        metadata,
      );
      await until(() => stream.messages.length > 0 || stream.error !== undefined, 'a message');
      opened = {
        // A grpc-js error's message is prefixed with the code; `details` is the server's text.
        outcome: outcomeOf(
          stream.error && { code: stream.error.code, message: detailsOf(stream.error) },
        ),
        close: () => {
          stream.call.cancel();
        },
      };
    } else {
      const stream = connect(transport, address);
      await until(() => stream.messages.length > 0 || stream.error !== undefined, 'a message');
      opened = {
        outcome: outcomeOf(
          stream.error && { code: stream.error.code, message: stream.error.rawMessage },
        ),
        close: () => {
          stream.cancel();
        },
      };
    }
    open.push(opened);
    return opened;
  }

  return {
    subscribeFrom,
    close() {
      for (const stream of open) stream.close();
      grpc.close();
    },
  };
}

const detailsOf = (error: Error): string =>
  (error as Error & { details?: string }).details ?? error.message;

/** gRPC's code, which Connect's `Code` and /ws error frames number alike. */
const RESOURCE_EXHAUSTED = 8;

/**
 * Asserts RESOURCE_EXHAUSTED with a message matching `message`. Every assertion here brings its
 * own failure message: left to write one, assert.ok reads the test's source back, and hung on it.
 */
function assertRefused(opened: Opened, message: RegExp): void {
  const refused =
    opened.outcome !== 'open' &&
    opened.outcome.code === RESOURCE_EXHAUSTED &&
    message.test(opened.outcome.message);
  assert.ok(
    refused,
    `expected RESOURCE_EXHAUSTED ${String(message)}: ${JSON.stringify(opened.outcome)}`,
  );
}

/** Subscribes again while refused, until a stream opens or 10 s have passed. */
async function retryUntilOpen(open: () => Promise<Opened>): Promise<Opened> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const opened = await open();
    if (opened.outcome === 'open' || Date.now() > deadline) return opened;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const TOO_MANY_STREAMS = /^at most 2 open market data streams per address/;

describe('market data streams open at once per address (STREAM_MAX_PER_IP)', () => {
  let app: TestApp;
  let client: ReturnType<typeof subscriber>;
  before(async () => {
    app = await startTestApp({ STREAM_MAX_PER_IP: '2', TRUSTED_PROXIES: '127.0.0.0/8,::1' });
    client = subscriber(app);
  });
  after(async () => {
    client.close();
    await app.stop();
  });

  for (const [index, transport] of TRANSPORTS.entries()) {
    test(`${transport}: the third stream of an address is refused, another address's is not`, async () => {
      const address = `203.0.113.${index + 1}`;
      assert.equal((await client.subscribeFrom(transport, address)).outcome, 'open');
      assert.equal((await client.subscribeFrom(transport, address)).outcome, 'open');
      const third = await client.subscribeFrom(transport, address);
      assertRefused(third, TOO_MANY_STREAMS);
      const elsewhere = await client.subscribeFrom(transport, `198.51.100.${index + 1}`);
      assert.equal(elsewhere.outcome, 'open');
    });
  }

  test('an address has one bound across every transport', async () => {
    const address = '203.0.113.50';
    assert.equal((await client.subscribeFrom('grpc', address)).outcome, 'open');
    assert.equal((await client.subscribeFrom('connect', address)).outcome, 'open');
    assertRefused(await client.subscribeFrom('grpc-web', address), TOO_MANY_STREAMS);
    assertRefused(await client.subscribeFrom('websocket', address), TOO_MANY_STREAMS);
  });

  for (const [index, transport] of TRANSPORTS.entries()) {
    test(`${transport}: closing a stream frees its slot`, async () => {
      const address = `203.0.113.${60 + index}`;
      const first = await client.subscribeFrom(transport, address);
      assert.equal(first.outcome, 'open');
      assert.equal((await client.subscribeFrom(transport, address)).outcome, 'open');
      assertRefused(await client.subscribeFrom(transport, address), TOO_MANY_STREAMS);
      first.close();
      // The server learns of the close a moment later: the slot frees then.
      const again = await retryUntilOpen(() => client.subscribeFrom(transport, address));
      assert.equal(again.outcome, 'open');
      assertRefused(await client.subscribeFrom(transport, address), TOO_MANY_STREAMS);
    });
  }

  test('each refusal is counted under the rate-limit metric', async () => {
    const text = await app.registry.metrics();
    const refused = sample(text, 'rate_limit_rejections_total', { scope: 'market_streams_ip' });
    assert.ok(refused !== undefined && refused >= 6, `refusals counted: ${refused}`);
  });
});

describe('market data subscribes per address over time (SUBSCRIBE_IP_*), shared by every pod', () => {
  let pod1: TestApp;
  let pod2: TestApp;
  let onPod1: ReturnType<typeof subscriber>;
  let onPod2: ReturnType<typeof subscriber>;
  before(async () => {
    const limits = {
      REDIS_URL: TEST_REDIS_URL,
      TRUSTED_PROXIES: '127.0.0.0/8,::1',
      STREAM_MAX_PER_IP: '3',
      SUBSCRIBE_IP_BURST: '3',
      SUBSCRIBE_IP_PER_MIN: '1',
    };
    pod1 = await startTestApp({ ...limits, POD_NAME: 'pod-1' });
    pod2 = await startTestApp({
      ...limits,
      ROLE: 'stream',
      POD_NAME: 'pod-2',
      PG_SCHEMA: pod1.config.postgres.schema ?? '',
      REDIS_KEY_PREFIX: pod1.config.redis.keyPrefix,
    });
    onPod1 = subscriber(pod1);
    onPod2 = subscriber(pod2);
  });
  after(async () => {
    onPod1.close();
    onPod2.close();
    await pod2.shutdown.run('test finished');
    await pod1.stop();
    await dropRedisKeys(pod1.config.redis.keyPrefix);
  });

  test("an address's burst spent on one pod is refused on another, with a retry delay", async () => {
    const address = '203.0.113.70';
    for (const transport of ['grpc', 'connect', 'websocket'] as const) {
      const opened = await onPod1.subscribeFrom(transport, address);
      assert.equal(opened.outcome, 'open', transport);
      opened.close();
    }
    const refused = await onPod2.subscribeFrom('grpc-web', address);
    assertRefused(
      refused,
      /^too many market data subscribes from this address: at most 1 per minute, 3 at once; retry in \d+ s$/,
    );
    assert.equal((await onPod2.subscribeFrom('grpc', '198.51.100.70')).outcome, 'open');

    const redis = new Redis(TEST_REDIS_URL);
    try {
      const key = `${pod1.config.redis.keyPrefix}rl:subscribe_ip:${address}`;
      assert.equal(await redis.exists(key), 1, `${key} holds the address's budget`);
    } finally {
      redis.disconnect();
    }
    const text = await pod2.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'subscribe_ip' }), 1);
  });
});

describe('order book snapshots per address (ORDER_BOOK_IP_*), on every transport', () => {
  let app: TestApp;
  let grpc: Client;
  before(async () => {
    app = await startTestApp({
      TRUSTED_PROXIES: '127.0.0.0/8,::1',
      ORDER_BOOK_IP_BURST: '3',
      ORDER_BOOK_IP_PER_MIN: '1',
    });
    grpc = grpcClient(app.grpcAddress, MarketDataService);
  });
  after(async () => {
    grpc.close();
    await app.stop();
  });

  /** One GetOrderBook from `address`: undefined when answered, else the code, message and retry. */
  async function orderBookFrom(
    transport: 'grpc' | 'connect',
    address: string,
  ): Promise<{ code: number; message: string; retryAfterMs: number } | undefined> {
    if (transport === 'grpc') {
      const metadata = new Metadata();
      metadata.set('x-forwarded-for', address);
      const { error } = await unary(grpc, 'getOrderBook', { symbol: 'BTC-USD' }, metadata);
      if (error === null) return undefined;
      return {
        code: error.code,
        message: error.details,
        retryAfterMs: Number(error.metadata.get('retry-after-ms')[0]),
      };
    }
    const client = createClient(
      MarketDataService,
      createConnectTransport({ baseUrl: app.httpUrl, httpVersion: '1.1' }),
    );
    try {
      await client.getOrderBook({ symbol: 'BTC-USD' }, { headers: { 'x-forwarded-for': address } });
      return undefined;
    } catch (error) {
      const connectError = ConnectError.from(error);
      return {
        code: connectError.code,
        message: connectError.rawMessage,
        retryAfterMs: Number(connectError.metadata.get('retry-after-ms')),
      };
    }
  }

  for (const [index, transport] of (['grpc', 'connect'] as const).entries()) {
    test(`${transport}: the fourth call of an address is refused with a retry delay, another address's is not`, async () => {
      const address = `203.0.113.${80 + index}`;
      for (let call = 1; call <= 3; call += 1) {
        assert.equal(await orderBookFrom(transport, address), undefined, `call ${call}`);
      }
      const refused = await orderBookFrom(transport, address);
      assert.equal(refused?.code, RESOURCE_EXHAUSTED, JSON.stringify(refused));
      assert.match(
        refused.message,
        /^too many order book requests from this address: at most 1 per minute, 3 at once; retry in \d+ s$/,
      );
      assert.ok(refused.retryAfterMs > 0, `retry-after-ms ${refused.retryAfterMs}`);
      assert.equal(await orderBookFrom(transport, `198.51.100.${80 + index}`), undefined);
    });
  }

  test('an address has one budget across transports, and refusals are counted', async () => {
    const address = '203.0.113.90';
    for (let call = 1; call <= 3; call += 1) {
      assert.equal(await orderBookFrom(call === 2 ? 'connect' : 'grpc', address), undefined);
    }
    assert.equal((await orderBookFrom('connect', address))?.code, RESOURCE_EXHAUSTED);
    const text = await app.registry.metrics();
    assert.equal(sample(text, 'rate_limit_rejections_total', { scope: 'order_book_ip' }), 3);
  });
});
