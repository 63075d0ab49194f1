import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Metadata, type Client } from '@grpc/grpc-js';
import { createClient } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { MarketDataService } from '../../src/gen/trading/v1/market_data_pb.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { installTestTracing } from '../support/tracing.js';
import { WsClient } from '../support/ws-client.js';

/**
 * What a trace backend receives for one call from a client that sent `traceparent`, on each
 * transport, with the HTTP routes traced (@fastify/otel): one tree, whose root is the child of
 * the client's span and every other span the child of an exported span. A span that is started
 * but never ended is never exported, and orphans every span under it.
 */

const exporter = installTestTracing();

let app: TestApp;
let market: Client;

before(async () => {
  app = await startTestApp({ TELEMETRY_ENABLED: 'true' });
  market = grpcClient(app.grpcAddress, MarketDataService);
});

after(async () => {
  market.close();
  await app.stop();
});

let traces = 0;

/** A fresh client span to send as `traceparent`. */
function clientSpan() {
  traces += 1;
  const traceId = `${traces.toString(16).padStart(8, '0')}${'c'.repeat(24)}`;
  const spanId = `${traces.toString(16).padStart(8, '0')}${'d'.repeat(8)}`;
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/**
 * The exported spans of the trace, once it holds every span in `names` and none of its spans
 * points at a parent that was not exported; fails naming the orphans if that never happens.
 */
async function completeTrace(
  client: { traceId: string; spanId: string },
  names: readonly string[],
): Promise<ReadableSpan[]> {
  const spansOf = () =>
    exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === client.traceId);
  const orphansOf = (spans: ReadableSpan[]) => {
    const exported = new Set([client.spanId, ...spans.map((span) => span.spanContext().spanId)]);
    return spans.filter(
      (span) =>
        span.parentSpanContext === undefined || !exported.has(span.parentSpanContext.spanId),
    );
  };
  const complete = (spans: ReadableSpan[]) =>
    names.every((name) => spans.some((span) => span.name === name)) &&
    orphansOf(spans).length === 0;
  // Generous: spans end as the response finishes, which a loaded machine may delay.
  const deadline = Date.now() + 5_000;
  while (!complete(spansOf()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const spans = spansOf();
  const described = (list: ReadableSpan[]) =>
    list.map((span) => `${span.name} <- ${span.parentSpanContext?.spanId ?? 'none'}`).join(', ');
  for (const name of names) {
    assert.ok(
      spans.some((span) => span.name === name),
      `no ${name} span in [${described(spans)}]`,
    );
  }
  assert.deepEqual(described(orphansOf(spans)), '', 'spans whose parent was never exported');
  const roots = spans.filter((span) => span.parentSpanContext?.spanId === client.spanId);
  assert.equal(roots.length, 1, `one root, the child of the client span: [${described(spans)}]`);
  return spans;
}

/**
 * The tree of a call on the HTTP port: the request span (@fastify/otel's, the HTTP server span
 * when `http` is not instrumented) holds the RPC span directly, and is the only route span: a
 * handler or hook span between them would repeat what the RPC span says.
 */
function assertRequestHoldsCall(spans: readonly ReadableSpan[], rpcName: string): void {
  const tree = spans
    .map((span) => `${span.name} <- ${span.parentSpanContext?.spanId ?? 'none'}`)
    .join(', ');
  const request = spans.find((span) => span.name === 'request');
  const rpc = spans.find((span) => span.name === rpcName);
  assert.equal(request?.kind, SpanKind.SERVER, `the request span is the server span: [${tree}]`);
  assert.equal(
    rpc?.parentSpanContext?.spanId,
    request.spanContext().spanId,
    `the RPC span is the request span's child: [${tree}]`,
  );
  assert.deepEqual(
    spans
      .filter((span) => span.instrumentationScope.name === '@fastify/otel')
      .map((span) => span.name),
    ['request'],
    `no route span but the request span: [${tree}]`,
  );
}

// gRPC on the HTTP port too (it shares the port with HTTP/1.1): HTTP/2 only, its status in
// trailers rather than the body.
for (const [protocol, createTransport, httpVersions] of [
  ['Connect', createConnectTransport, ['1.1', '2']],
  ['gRPC-Web', createGrpcWebTransport, ['1.1', '2']],
  ['gRPC', createGrpcTransport, ['2']],
] as const) {
  for (const httpVersion of httpVersions) {
    test(`a ${protocol} unary call over HTTP/${httpVersion} exports a complete trace`, async () => {
      const client = clientSpan();
      const connect = createClient(
        MarketDataService,
        createTransport({ baseUrl: app.httpUrl, httpVersion }),
      );

      await connect.getOrderBook(
        { symbol: 'BTC-USD' },
        { headers: { traceparent: client.traceparent } },
      );

      const spans = await completeTrace(client, [
        'request',
        'trading.v1.MarketDataService/GetOrderBook',
      ]);
      const root = spans.find((span) => span.parentSpanContext?.spanId === client.spanId);
      assert.equal(root?.name, 'request', 'the HTTP request span holds the call');
      assertRequestHoldsCall(spans, 'trading.v1.MarketDataService/GetOrderBook');
    });

    test(`a ${protocol} stream over HTTP/${httpVersion} that the client cancels exports a complete trace`, async () => {
      const client = clientSpan();
      const connect = createClient(
        MarketDataService,
        createTransport({ baseUrl: app.httpUrl, httpVersion }),
      );
      const controller = new AbortController();
      const stream = connect.subscribe(
        { symbols: ['BTC-USD'] },
        { signal: controller.signal, headers: { traceparent: client.traceparent } },
      );

      for await (const message of stream) if (message.stream !== '') break;
      controller.abort();

      const spans = await completeTrace(client, [
        'request',
        'trading.v1.MarketDataService/Subscribe',
        'stream.subscribe',
      ]);
      assertRequestHoldsCall(spans, 'trading.v1.MarketDataService/Subscribe');
    });
  }
}

test('a native gRPC unary call exports a complete trace', async () => {
  const client = clientSpan();
  const metadata = new Metadata();
  metadata.set('traceparent', client.traceparent);

  await unary(market, 'getOrderBook', { symbol: 'BTC-USD' }, metadata);

  await completeTrace(client, ['trading.v1.MarketDataService/GetOrderBook']);
});

test('a /ws subscription exports a complete trace', async () => {
  const client = clientSpan();
  const ws = await WsClient.connect(app.httpUrl, { traceparent: client.traceparent });
  try {
    ws.send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: ['BTC-USD'] } } });
    await completeTrace(client, ['WebSocket subscribe', 'stream.subscribe']);
  } finally {
    ws.close();
  }
});
