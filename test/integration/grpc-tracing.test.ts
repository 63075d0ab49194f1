import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Metadata, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';

const exporter = new InMemorySpanExporter();
// What NodeTracerProvider.register() installs in the real process (src/telemetry/tracing.ts).
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

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
