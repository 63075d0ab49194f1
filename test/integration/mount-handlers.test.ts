import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createClient,
  createConnectRouter,
  createContextValues,
  type Transport,
} from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import fastify from 'fastify';
import { MarketDataService } from '../../src/gen/trading/v1/market_data_pb.js';
import { createLogger } from '../../src/telemetry/index.js';
import { mountHandlers } from '../../src/transport/connect/mount-handlers.js';
import { until } from '../support/stream-client.js';

/**
 * Every route mountHandlers serves settles once its call is over, however the call ended: a
 * route left pending holds its request and reply for the life of the process.
 */

let app: { close(): PromiseLike<unknown>; server: { address(): unknown } };
let baseUrl = '';
let started = 0;
let settled = 0;

before(async () => {
  const router = createConnectRouter();
  router.service(MarketDataService, {
    getOrderBook: () => ({}),
    async *subscribe(_request, context) {
      yield { stream: 'book.BTC-USD' };
      await new Promise((resolve) => {
        context.signal.addEventListener('abort', resolve);
      });
    },
  });
  const server = fastify({ http2: true });
  app = server;
  await server.register((scope, _options, done) => {
    // Counts each route's handler from its start to its settling, as Fastify awaits it.
    const counted = new Proxy(scope, {
      get(target, property) {
        if (property === 'all') {
          return (path: string, handler: (...args: unknown[]) => Promise<void>) =>
            target.all(path, (...args: unknown[]) => {
              started += 1;
              return handler(...args).finally(() => {
                settled += 1;
              });
            });
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    mountHandlers(counted, router.handlers, {
      logger: createLogger({ level: 'silent', base: {} }),
      contextValues: () => createContextValues(),
    });
    done();
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  assert.ok(address !== null && typeof address === 'object', 'a TCP address');
  baseUrl = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app.close();
});

const transports: [string, () => Transport][] = [
  ['gRPC', () => createGrpcTransport({ baseUrl })],
  ['gRPC-Web', () => createGrpcWebTransport({ baseUrl, httpVersion: '2' })],
  ['Connect', () => createConnectTransport({ baseUrl, httpVersion: '2' })],
];

for (const [protocol, transport] of transports) {
  test(`a ${protocol} stream its client cancels settles its route`, async () => {
    const before = settled;
    const client = createClient(MarketDataService, transport());
    const controller = new AbortController();
    try {
      for await (const message of client.subscribe({}, { signal: controller.signal })) {
        if (message.stream !== '') controller.abort();
      }
    } catch {
      // Cancelled, as asked.
    }
    await until(() => settled > before, `the ${protocol} route to settle`, 5_000);
    assert.equal(settled, started, `${started} routes started, ${settled} settled`);
  });

  test(`a ${protocol} unary call settles its route`, async () => {
    const before = settled;
    const client = createClient(MarketDataService, transport());
    await client.getOrderBook({ symbol: 'BTC-USD' });
    await until(() => settled > before, `the ${protocol} route to settle`, 5_000);
    assert.equal(settled, started, `${started} routes started, ${settled} settled`);
  });
}
