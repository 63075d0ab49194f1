// OTEL_NODE_ENABLED_INSTRUMENTATIONS and OTEL_NODE_DISABLED_INSTRUMENTATIONS in a real process,
// preloaded as `npm start` does (the ESM loader hook included), exporting over OTLP to a
// receiver standing in for the collector: the spans that arrive are the ones an operator sees.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import {
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../support/otlp-receiver.js';
import { spawnApp, type AppProcess } from '../support/process.js';

const PG = '@opentelemetry/instrumentation-pg';
const HTTP = '@opentelemetry/instrumentation-http';
const SERVER = 2;

let receiver: OtlpReceiver;

before(async () => {
  receiver = await startOtlpReceiver();
});

after(async () => {
  await receiver.close();
});

/**
 * A gRPC call that queries PostgreSQL, a probe, and two Connect calls over HTTP/1.1, the second
 * (a login) querying PostgreSQL too.
 */
async function work(app: AppProcess): Promise<void> {
  const auth = grpcClient(app.grpcAddress, AuthService);
  const credentials = { username: uniqueName('traced'), password: 'long enough password' };
  try {
    const registered = await unary(auth, 'register', credentials);
    assert.equal(registered.error, null);
  } finally {
    auth.close();
  }
  assert.equal((await fetch(`${app.httpUrl}/healthz`)).status, 200);
  const book = await fetch(`${app.httpUrl}/trading.v1.MarketDataService/GetOrderBook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' },
    body: '{"symbol":"BTC-USD"}',
  });
  assert.equal(book.status, 200);
  const login = await fetch(`${app.httpUrl}/trading.v1.AuthService/Login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' },
    body: JSON.stringify(credentials),
  });
  assert.equal(login.status, 200);
}

/**
 * Runs `work` against a process started with `env`, stops it (which flushes its spans), and
 * returns the spans it exported, told from other runs' by their service.name.
 */
async function spansOf(env: Record<string, string>): Promise<ReceivedSpan[]> {
  const serviceName = uniqueName('otel');
  const app = await spawnApp({
    TELEMETRY_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: serviceName,
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    ...env,
  });
  try {
    await app.waitForLog('app started');
    await work(app);
  } finally {
    app.child.kill('SIGTERM');
  }
  assert.equal(await app.exited, 0, app.stderr.join('\n'));
  return receiver.spans.filter((span) => span.resource['service.name'] === serviceName);
}

const registerSpan = (spans: readonly ReceivedSpan[]): ReceivedSpan => {
  const found = spans.filter((span) => span.name === 'trading.v1.AuthService/Register');
  assert.equal(found.length, 1, `Register spans among ${spans.map((s) => s.name).join(', ')}`);
  const [span] = found;
  assert.ok(span);
  return span;
};

test('by default: pg spans inside the gRPC call, no HTTP instrumentation; a Connect call is its request span, the RPC span, its queries', async () => {
  const spans = await spansOf({});

  const register = registerSpan(spans);
  const queries = spans.filter(
    (span) => span.scope === PG && span.parentSpanId === register.spanId,
  );
  assert.ok(queries.length > 0, 'pg spans as children of the call');
  assert.deepEqual(
    spans.filter((span) => span.scope === HTTP),
    [],
  );

  const tree = spans.map((s) => `${s.name} (${s.scope}) <- ${s.parentSpanId}`).join(', ');
  // GetOrderBook's and Login's: the HTTP server spans, and nothing else from the routes.
  const requests = spans.filter((span) => span.scope === '@fastify/otel');
  assert.deepEqual(
    requests.map((span) => [span.name, span.kind, span.parentSpanId]),
    [
      ['request', SERVER, ''],
      ['request', SERVER, ''],
    ],
    `only request spans from the routes, each a root: ${tree}`,
  );
  const login = spans.find((span) => span.name === 'trading.v1.AuthService/Login');
  assert.ok(
    login !== undefined && requests.some((request) => request.spanId === login.parentSpanId),
    `the Login span is its request span's child: ${tree}`,
  );
  assert.ok(
    spans.some((span) => span.scope === PG && span.parentSpanId === login.spanId),
    `pg spans as children of the Connect call: ${tree}`,
  );
});

test('OTEL_NODE_ENABLED_INSTRUMENTATIONS=http,pg adds HTTP server spans, probes left out', async () => {
  const spans = await spansOf({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg' });

  const httpServer = spans.filter((span) => span.scope === HTTP && span.kind === SERVER);
  // The Connect calls only: /healthz is a probe, and gRPC (HTTP/2) is not this instrumentation's.
  assert.equal(httpServer.length, 2, JSON.stringify(httpServer));
  const call = spans.find((span) => span.name === 'trading.v1.MarketDataService/GetOrderBook');
  const request = httpServer.find((span) => span.traceId === call?.traceId);
  assert.ok(request && call, JSON.stringify(httpServer));
  assert.equal(call.traceId, request.traceId, 'the RPC span continues the HTTP request trace');
  assert.ok(
    spans.some((span) => span.scope === '@fastify/otel' && span.parentSpanId === request.spanId),
    'the route span is a child of the HTTP server span',
  );
  assert.ok(spans.some((span) => span.scope === PG));
});

test('OTEL_NODE_DISABLED_INSTRUMENTATIONS=pg: the call is traced, its queries are not', async () => {
  const spans = await spansOf({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' });

  registerSpan(spans);
  assert.deepEqual(
    spans.filter((span) => span.scope === PG),
    [],
  );
});
