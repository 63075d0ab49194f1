import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { AccountService } from '../../src/gen/trading/v1/account_pb.js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import {
  GetOrderBookRequestSchema,
  MarketDataService,
  type SubscribeResponse,
} from '../../src/gen/trading/v1/market_data_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { SessionService, type OpenStreamResponse } from '../../src/gen/trading/v1/session_pb.js';
import { MAX_ERROR_MESSAGE } from '../../src/domain/errors.js';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { placeRequest } from '../support/order-requests.js';
import { signUp } from '../support/stream-client.js';

/**
 * The services of the gRPC port on the HTTP port, called by Connect's own Node clients over
 * Connect and gRPC-Web, on HTTP/1.1 and HTTP/2: the same handlers, admission and error codes
 * as native gRPC, and the same grpc_server_* telemetry.
 */

const PASSWORD = 'correct horse battery';
const BOOK = 'book.BTC-USD';

const TRANSPORTS = [
  ['connect', '1.1'],
  ['connect', '2'],
  ['grpc-web', '1.1'],
  ['grpc-web', '2'],
] as const;

let app: TestApp;

before(async () => {
  // A small burst so the rate-limit test reaches it quickly; every other test stays under it.
  app = await startTestApp({ USER_RATE_PER_S: '1', USER_RATE_BURST: '40' });
});

after(async () => {
  await app.stop();
});

/** Reads a server stream into an array in the background, until the test aborts it. */
function record<T>(stream: AsyncIterable<T>) {
  const messages: T[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const message of stream) messages.push(message);
    } catch (error) {
      if (!(error instanceof ConnectError && error.code === Code.Canceled)) failure = error;
    }
  })();
  const until = async (condition: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
      if (failure !== undefined) throw failure as Error;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { messages, until, done, failure: () => failure };
}

async function refused(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ConnectError, String(error));
    return error;
  }
  assert.fail('the call succeeded');
}

for (const [protocol, httpVersion] of TRANSPORTS) {
  describe(`${protocol} over HTTP/${httpVersion}`, () => {
    let transport: Transport;
    let headers: Record<string, string>;
    const username = `connect_${protocol.replace('-', '')}_${httpVersion.replace('.', '')}`;

    before(async () => {
      const make = protocol === 'connect' ? createConnectTransport : createGrpcWebTransport;
      transport = make({ baseUrl: app.httpUrl, httpVersion });
      const auth = createClient(AuthService, transport);
      await auth.register({ username, password: PASSWORD });
      const login = await auth.login({ username, password: PASSWORD });
      headers = { authorization: `Bearer ${login.tokens?.accessToken ?? ''}` };
    });

    test('places an order, lists it, reads balances and the order book', async () => {
      const orders = createClient(OrderService, transport);
      const placed = await orders.placeOrder(placeRequest(`${username}-1`, { price: 61_000n }), {
        headers,
      });
      assert.ok(placed.order?.orderId);
      const listed = await orders.listOrders({}, { headers });
      assert.ok(listed.orders.some((o) => o.orderId === placed.order?.orderId));
      const balances = await createClient(AccountService, transport).getBalances({}, { headers });
      assert.ok(balances.balances.some((b) => b.asset === 'USD'));
      const book = await createClient(MarketDataService, transport).getOrderBook({
        symbol: 'BTC-USD',
      });
      assert.ok(book.book?.bids.some((level) => level.price === 61_000n));
    });

    test('streams book.BTC-USD (snapshot, then deltas) and the private stream', async () => {
      const abort = new AbortController();
      const market = record<SubscribeResponse>(
        createClient(MarketDataService, transport).subscribe(
          { symbols: ['BTC-USD'] },
          { signal: abort.signal },
        ),
      );
      const own = record<OpenStreamResponse>(
        createClient(SessionService, transport).openStream({}, { headers, signal: abort.signal }),
      );
      const book = () => market.messages.filter((m) => m.stream === BOOK);
      await market.until(() => book().length > 0, 'the snapshot');
      await own.until(() => own.messages.length > 0, 'the private stream start');
      await createClient(OrderService, transport).placeOrder(
        placeRequest(`${username}-2`, { side: Side.SELL, price: 69_000n }),
        { headers },
      );
      await market.until(() => book().some((m) => m.event.case === 'delta'), 'a delta');
      await own.until(
        () => own.messages.some((m) => m.event.case === 'execution'),
        'an execution report',
      );
      abort.abort();
      await Promise.all([market.done, own.done]);

      assert.equal(book()[0]?.event.case, 'snapshot');
      const seqs = book().map((m) => m.seq);
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => (seqs[0] ?? 0n) + BigInt(i)),
        'contiguous seqs',
      );
    });

    test('a call without a token is UNAUTHENTICATED', async () => {
      const error = await refused(createClient(AccountService, transport).getBalances({}));
      assert.equal(error.code, Code.Unauthenticated);
    });

    test('a bad field is INVALID_ARGUMENT naming it', async () => {
      const error = await refused(
        createClient(OrderService, transport).placeOrder(
          placeRequest(`${username}-bad`, { quantity: 0n }),
          { headers },
        ),
      );
      assert.equal(error.code, Code.InvalidArgument);
      assert.equal(error.metadata.get('error-field'), 'quantity');
    });

    test('NUL and 100,000-character fields are refused with a bounded message', async () => {
      const orders = createClient(OrderService, transport);
      for (const overrides of [
        { clientOrderId: 'nul\u0000x' },
        { symbol: 'X'.repeat(100_000) },
        { clientOrderId: 'X'.repeat(100_000) },
      ]) {
        const error = await refused(
          orders.placeOrder(placeRequest(`${username}-h`, overrides), { headers }),
        );
        assert.equal(error.code, Code.InvalidArgument);
        assert.ok(error.rawMessage.length <= MAX_ERROR_MESSAGE, `${error.rawMessage.length}`);
      }
      // The connection carries on.
      assert.ok(await orders.listOrders({}, { headers }));
    });

    test('OrderEntry says to use native gRPC or the unary calls', async () => {
      const requests = (async function* () {
        await Promise.resolve();
        yield { requestId: 1n };
      })();
      const error = await refused(
        (async () => {
          for await (const answer of createClient(OrderService, transport).orderEntry(requests, {
            headers,
          })) {
            assert.fail(`answered ${String(answer.requestId)}`);
          }
        })(),
      );
      assert.equal(error.code, Code.InvalidArgument, error.message);
      assert.match(error.rawMessage, /native gRPC.*PlaceOrder/);
    });
  });
}

test('a user over the rate limit gets RESOURCE_EXHAUSTED with a retry delay', async () => {
  const transport = createConnectTransport({ baseUrl: app.httpUrl, httpVersion: '1.1' });
  const auth = createClient(AuthService, transport);
  await auth.register({ username: 'connect_limited', password: PASSWORD });
  const login = await auth.login({ username: 'connect_limited', password: PASSWORD });
  const headers = { authorization: `Bearer ${login.tokens?.accessToken ?? ''}` };
  const accounts = createClient(AccountService, transport);
  const results = await Promise.allSettled(
    Array.from({ length: 60 }, () => accounts.getBalances({}, { headers })),
  );
  const errors = results.flatMap((r) =>
    r.status === 'rejected' ? [r.reason as ConnectError] : [],
  );
  assert.ok(errors.length > 0, 'some calls were refused');
  for (const error of errors) {
    assert.equal(error.code, Code.ResourceExhausted);
    assert.ok(Number(error.metadata.get('retry-after-ms')) > 0);
  }
});

describe('bodies that are not a request message', () => {
  const post = (path: string, contentType: string, body: Uint8Array | string) =>
    fetch(`${app.httpUrl}/${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'connect-protocol-version': '1' },
      body,
    });
  const GET_BOOK = 'trading.v1.MarketDataService/GetOrderBook';
  const SUBSCRIBE = 'trading.v1.MarketDataService/Subscribe';

  test('Connect: an empty or garbage JSON body, or garbage protobuf, is INVALID_ARGUMENT', async () => {
    for (const [contentType, body] of [
      ['application/json', ''],
      ['application/json', '{"symbol": '],
      ['application/json', 'garbage'],
      ['application/proto', new Uint8Array([0xff, 0xff, 0xff, 0xff])],
    ] as const) {
      const answer = await post(GET_BOOK, contentType, body);
      const json = (await answer.json()) as { code: string; message: string };
      assert.equal(answer.status, 400, `${contentType} ${String(body)}: ${json.message}`);
      assert.equal(json.code, 'invalid_argument');
    }
  });

  test('gRPC-Web: no message, two messages or garbage is INVALID_ARGUMENT', async () => {
    const envelope = (bytes: number[]) => [0, 0, 0, 0, bytes.length, ...bytes];
    for (const body of [
      [],
      [...envelope([]), ...envelope([])],
      envelope([0xff, 0xff, 0xff]),
      [1, 2, 3],
    ]) {
      const answer = await post(GET_BOOK, 'application/grpc-web+proto', new Uint8Array(body));
      const text = Buffer.from(await answer.arrayBuffer()).toString('latin1');
      const status = answer.headers.get('grpc-status') ?? /grpc-status: ?(\d+)/.exec(text)?.[1];
      assert.equal(status, String(Code.InvalidArgument), `${body.join(',')}: ${text}`);
    }
  });

  test('a message flagged compressed when no encoding was named is INVALID_ARGUMENT saying so', async () => {
    const request = toBinary(
      GetOrderBookRequestSchema,
      create(GetOrderBookRequestSchema, { symbol: 'BTC-USD', depth: 5 }),
    );
    const compressedFlag = new Uint8Array([1, 0, 0, 0, request.length, ...request]);
    const grpcWeb = await post(GET_BOOK, 'application/grpc-web+proto', compressedFlag);
    const grpcWebText = Buffer.from(await grpcWeb.arrayBuffer()).toString('latin1');
    const connectStream = await post(SUBSCRIBE, 'application/connect+proto', compressedFlag);
    const connectEnd = Buffer.from(await connectStream.arrayBuffer());

    const grpcWebStatus =
      grpcWeb.headers.get('grpc-status') ?? /grpc-status: ?(\d+)/.exec(grpcWebText)?.[1];
    const grpcWebMessage =
      grpcWeb.headers.get('grpc-message') ?? /grpc-message: ?(.*)/.exec(grpcWebText)?.[1];
    assert.equal(grpcWebStatus, String(Code.InvalidArgument), grpcWebText);
    assert.match(decodeURIComponent(grpcWebMessage ?? ''), /compressed.*grpc-encoding/);
    const end = JSON.parse(connectEnd.subarray(5).toString('utf8')) as {
      error?: { code: string; message: string };
    };
    assert.equal(end.error?.code, 'invalid_argument', connectEnd.toString('utf8'));
    assert.match(end.error.message, /compressed.*connect-content-encoding/);
  });

  test('a streamed request message flagged compressed with no encoding is INVALID_ARGUMENT', async () => {
    const { auth } = await signUp(app.grpcAddress, 'connect_compressed_flag');
    const session = http2.connect(app.httpUrl);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/trading.v1.OrderService/OrderEntry',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: String(auth.get('authorization')[0]),
      });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => {
        let last: http2.IncomingHttpHeaders = {};
        const keep = (headers: http2.IncomingHttpHeaders) => {
          last = headers;
        };
        stream.on('response', keep);
        stream.on('trailers', keep);
        stream.on('close', () => {
          resolve(last);
        });
      });
      stream.on('data', () => undefined);
      stream.end(new Uint8Array([1, 0, 0, 0, 0]));
      const status = await trailers;

      assert.equal(status['grpc-status'], String(Code.InvalidArgument), JSON.stringify(status));
      assert.match(decodeURIComponent(String(status['grpc-message'])), /compressed.*grpc-encoding/);
    } finally {
      session.close();
    }
  });

  test('each refusal is counted like a native gRPC call, and the server carries on', async () => {
    await post(GET_BOOK, 'application/json', 'garbage');
    const metrics = await app.registry.metrics();
    const refusals = sample(metrics, 'grpc_server_handled_total', {
      grpc_method: 'GetOrderBook',
      transport: 'connect',
      grpc_code: 'InvalidArgument',
    });
    assert.ok((refusals ?? 0) > 0, 'counted');
    const book = await post(GET_BOOK, 'application/json', '{"symbol":"BTC-USD"}');
    assert.equal(book.status, 200);
  });

  test('a body over the limit is RESOURCE_EXHAUSTED', async () => {
    const huge = JSON.stringify({ symbol: 'X'.repeat(app.config.http.maxRequestBytes) });
    const answer = await post(GET_BOOK, 'application/json', huge);
    const json = (await answer.json()) as { code: string };
    assert.equal(json.code, 'resource_exhausted');
  });
});

test('an open stream ends with UNAVAILABLE (server-shutdown) when the server shuts down', async () => {
  const own = await startTestApp();
  try {
    const streams = [createConnectTransport, createGrpcWebTransport].map((make) =>
      record<SubscribeResponse>(
        createClient(MarketDataService, make({ baseUrl: own.httpUrl, httpVersion: '2' })).subscribe(
          { symbols: ['BTC-USD'] },
        ),
      ),
    );
    for (const stream of streams) await stream.until(() => stream.messages.length > 0, 'a start');
    const started = Date.now();
    await own.shutdown.run('test finished');
    assert.ok(Date.now() - started < 4_000, 'the drain did not wait for the streams');
    for (const stream of streams) {
      const error = await stream.done.then(() => stream.failure());
      assert.ok(error instanceof ConnectError, String(error));
      assert.equal(error.code, Code.Unavailable);
      assert.equal(error.metadata.get('error-dependency'), 'server-shutdown');
    }
  } finally {
    await own.stop();
  }
});
