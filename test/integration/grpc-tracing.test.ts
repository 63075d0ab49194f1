import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Metadata, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { MarketDataService } from '../../src/gen/trading/v1/market_data_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { installTestTracing } from '../support/tracing.js';
import { WsClient } from '../support/ws-client.js';

const exporter = installTestTracing();

let app: TestApp;
let auth: Client;

before(async () => {
  app = await startTestApp();
  auth = grpcClient(app.grpcAddress, AuthService);
});

after(async () => {
  auth.close();
  await app.stop();
});

test('each call gets one server span that continues the caller trace', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const metadata = new Metadata();
  metadata.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);

  await unary(auth, 'register', { username: 'traced', password: 'long enough password' }, metadata);

  const spans = exporter
    .getFinishedSpans()
    .filter((span) => span.name === 'trading.v1.AuthService/Register');
  assert.equal(spans.length, 1);
  const [span] = spans;
  assert.ok(span);
  assert.equal(span.spanContext().traceId, traceId);
  assert.equal(span.parentSpanContext?.spanId, '00f067aa0ba902b7');
  assert.equal(span.attributes['rpc.method'], 'Register');
});

test('log lines written by a handler carry the trace id of its call', async () => {
  await unary(auth, 'register', { username: 'logged', password: 'long enough password' });

  const span = exporter
    .getFinishedSpans()
    .filter((s) => s.name === 'trading.v1.AuthService/Register')
    .at(-1);
  const line = app.logs.lines.filter((l) => l.msg === 'user registered').at(-1);
  assert.ok(span && line);
  assert.equal(line.trace_id, span.spanContext().traceId);
  const finished = app.logs.lines.filter((l) => l.msg === 'grpc call finished').at(-1);
  assert.equal(finished?.trace_id, span.spanContext().traceId);
});

test('an authenticated call records the user on its span', async () => {
  const credentials = { username: 'spanned', password: 'long enough password' };
  await unary(auth, 'register', credentials);
  const { response } = await unary<{ userId: string; tokens: { accessToken: string } }>(
    auth,
    'login',
    credentials,
  );
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${response?.tokens.accessToken ?? ''}`);
  const { OrderService } = await import('../../src/gen/trading/v1/orders_pb.js');
  const orders = grpcClient(app.grpcAddress, OrderService);
  await unary(orders, 'getOrder', { orderId: '1' }, metadata);
  orders.close();

  const span = exporter
    .getFinishedSpans()
    .filter((s) => s.name === 'trading.v1.OrderService/GetOrder')
    .at(-1);
  assert.equal(span?.attributes['enduser.id'], response?.userId);
});

test('each order-entry command has a trace of its own, linked to its stream', async () => {
  const credentials = { username: 'entry', password: 'long enough password' };
  await unary(auth, 'register', credentials);
  const { response } = await unary<{ tokens: { accessToken: string } }>(auth, 'login', credentials);
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${response?.tokens.accessToken ?? ''}`);
  const { OrderService } = await import('../../src/gen/trading/v1/orders_pb.js');
  const orders = grpcClient(app.grpcAddress, OrderService);
  const open = (
    orders as unknown as Record<string, (m: Metadata) => ClientDuplexStream<unknown, unknown>>
  ).orderEntry;
  assert.ok(open);
  const call = open.call(orders, metadata);
  const ended = new Promise((resolve) => call.on('status', resolve));
  call.on('data', () => undefined);
  for (const requestId of [1n, 2n]) {
    call.write({
      requestId,
      command: {
        case: 'place',
        value: {
          clientOrderId: `traced-${String(requestId)}`,
          symbol: 'BTC-USD',
          side: 1,
          type: 1,
          timeInForce: 1,
          price: 60_000n,
          quantity: 1n,
        },
      },
    });
  }
  call.end();
  await ended;
  orders.close();

  const spans = exporter.getFinishedSpans();
  const stream = spans.filter((s) => s.name === 'trading.v1.OrderService/OrderEntry').at(-1);
  const commands = spans.filter((s) => s.name === 'trading.v1.OrderService/OrderEntry place');
  assert.ok(stream);
  assert.equal(commands.length, 2);
  for (const command of commands) {
    assert.equal(command.parentSpanContext, undefined, 'a root span');
    assert.notEqual(command.spanContext().traceId, stream.spanContext().traceId);
    assert.deepEqual(
      command.links.map((link) => link.context.spanId),
      [stream.spanContext().spanId],
    );
  }
});

test('HTTP business routes are traced; probes and scrapes are not', async () => {
  const traced = await startTestApp({ TELEMETRY_ENABLED: 'true' });
  try {
    exporter.reset();
    await fetch(`${traced.httpUrl}/healthz`);
    await fetch(`${traced.httpUrl}/metrics`);
    await fetch(`${traced.httpUrl}/v1/session`);
    const mentions = (path: string) =>
      exporter
        .getFinishedSpans()
        .filter((span) => Object.values(span.attributes).some((value) => value === path));
    assert.ok(mentions('/v1/session').length > 0, 'the business route has spans');
    assert.equal(mentions('/healthz').length, 0);
    assert.equal(mentions('/metrics').length, 0);
  } finally {
    await traced.stop();
  }
});

test('a stream subscription joins the trace of the client that sent traceparent', async () => {
  const { MarketDataService } = await import('../../src/gen/trading/v1/market_data_pb.js');
  const { subscribe } = await import('../support/stream-client.js');
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const metadata = new Metadata();
  metadata.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
  const market = grpcClient(app.grpcAddress, MarketDataService);
  const stream = subscribe(market, 'subscribe', { symbols: ['BTC-USD'] }, metadata);
  try {
    const deadline = Date.now() + 10_000;
    const subscribed = () =>
      exporter.getFinishedSpans().filter((s) => s.name === 'stream.subscribe');
    while (subscribed().length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(subscribed().length > 0, 'no stream.subscribe span');
    for (const span of subscribed()) assert.equal(span.spanContext().traceId, traceId);
  } finally {
    stream.call.cancel();
    market.close();
  }
});

for (const [protocol, createTransport] of [
  ['Connect', createConnectTransport],
  ['gRPC-Web', createGrpcWebTransport],
] as const) {
  test(`a ${protocol} stream subscription joins the trace of the client that sent traceparent`, async () => {
    const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
    const market = createClient(
      MarketDataService,
      createTransport({ baseUrl: app.httpUrl, httpVersion: '1.1' }),
    );
    exporter.reset();
    const controller = new AbortController();
    const stream = market.subscribe(
      { symbols: ['BTC-USD'] },
      { signal: controller.signal, headers: { traceparent: `00-${traceId}-c7ad6b7169203331-01` } },
    );
    try {
      for await (const message of stream) if (message.stream !== '') break;
      const spans = await spansNamed('stream.subscribe');
      for (const span of spans) assert.equal(span.spanContext().traceId, traceId);
    } finally {
      controller.abort();
    }
  });
}

/** The finished spans called `name`, once there is one (streams open in the background). */
async function spansNamed(name: string): Promise<ReadableSpan[]> {
  const named = () => exporter.getFinishedSpans().filter((span) => span.name === name);
  const deadline = Date.now() + 10_000;
  while (named().length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(named().length > 0, `no ${name} span`);
  return named();
}

/** The one span of `name` in the trace, and that it is the child of `parentSpanId`. */
function childIn(traceId: string, name: string, parentSpanId: string): ReadableSpan {
  const spans = exporter
    .getFinishedSpans()
    .filter((span) => span.name === name && span.spanContext().traceId === traceId);
  assert.equal(spans.length, 1, `one ${name} span in trace ${traceId}`);
  const [span] = spans;
  assert.ok(span);
  assert.equal(span.parentSpanContext?.spanId, parentSpanId);
  return span;
}

test('a /ws subscription joins the trace named by the upgrade request', async () => {
  const traceId = '6cf92f3577b34da6a3ce929d0e0e4736';
  const clientSpanId = 'd7ad6b7169203331';
  exporter.reset();
  const ws = await WsClient.connect(app.httpUrl, {
    traceparent: `00-${traceId}-${clientSpanId}-01`,
  });
  try {
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await spansNamed('stream.subscribe');

    const frame = childIn(traceId, 'WebSocket subscribe', clientSpanId);
    assert.deepEqual(frame.attributes['stream.names'], ['book.BTC-USD', 'trades.BTC-USD']);
    const subscribed = exporter
      .getFinishedSpans()
      .filter((span) => span.name === 'stream.subscribe');
    assert.equal(subscribed.length, 2, 'book and trades');
    for (const span of subscribed) {
      assert.equal(span.spanContext().traceId, traceId);
      assert.equal(span.parentSpanContext?.spanId, frame.spanContext().spanId);
    }
  } finally {
    ws.close();
  }
});

test("a /ws resume joins the trace of its frame's traceparent, as a browser sends it", async () => {
  const first = await WsClient.connect(app.httpUrl);
  first.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
  await first.until(() => WsClient.positions(first.market()).length === 2, 'both streams');
  const [{ sessionId } = { sessionId: '' }] = first.market();
  const positions = WsClient.positions(first.market());
  first.close();

  const upgradeTrace = '7df92f3577b34da6a3ce929d0e0e4736';
  const frameTrace = '8ef92f3577b34da6a3ce929d0e0e4736';
  const frameSpanId = 'e7ad6b7169203331';
  exporter.reset();
  const ws = await WsClient.connect(app.httpUrl, {
    traceparent: `00-${upgradeTrace}-f7ad6b7169203331-01`,
  });
  try {
    ws.send({
      requestId: 2,
      traceparent: `00-${frameTrace}-${frameSpanId}-01`,
      tracestate: 'vendor=value',
      frame: { case: 'subscribe', value: { symbols: ['BTC-USD'], sessionId, positions } },
    });
    await spansNamed('stream.resume');

    const frame = childIn(frameTrace, 'WebSocket subscribe', frameSpanId);
    assert.equal(frame.spanContext().traceState?.get('vendor'), 'value');
    const resumed = exporter.getFinishedSpans().filter((span) => span.name === 'stream.resume');
    assert.equal(resumed.length, 2);
    for (const span of resumed) {
      assert.equal(span.spanContext().traceId, frameTrace);
      assert.equal(span.parentSpanContext?.spanId, frame.spanContext().spanId);
    }
  } finally {
    ws.close();
  }
});

test("a /ws frame's traceparent that does not parse is ignored: the upgrade's trace holds", async () => {
  const upgradeTrace = '9af92f3577b34da6a3ce929d0e0e4736';
  const upgradeSpanId = 'a7ad6b7169203331';
  exporter.reset();
  const ws = await WsClient.connect(app.httpUrl, {
    traceparent: `00-${upgradeTrace}-${upgradeSpanId}-01`,
  });
  try {
    ws.send({
      requestId: 1,
      traceparent: 'not a traceparent',
      frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } },
    });
    await spansNamed('stream.subscribe');
    childIn(upgradeTrace, 'WebSocket subscribe', upgradeSpanId);
  } finally {
    ws.close();
  }
});

test('a refused /ws subscribe ends its span with the status code, in the client trace', async () => {
  const traceId = 'aaf92f3577b34da6a3ce929d0e0e4736';
  const spanId = 'b8ad6b7169203331';
  exporter.reset();
  const ws = await WsClient.connect(app.httpUrl);
  try {
    ws.send({
      requestId: 1,
      traceparent: `00-${traceId}-${spanId}-01`,
      frame: { case: 'subscribe', value: { symbols: ['NOPE-USD'] } },
    });
    await ws.until(() => ws.errors().length > 0, 'the error frame');
    await spansNamed('WebSocket subscribe');
    const frame = childIn(traceId, 'WebSocket subscribe', spanId);
    assert.equal(frame.attributes['rpc.grpc.status_code'], 3);
    assert.equal(frame.status.code, 0, 'a client error is not a server fault');
  } finally {
    ws.close();
  }
});
