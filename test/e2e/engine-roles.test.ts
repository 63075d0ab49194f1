import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metadata, type Client } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderService, OrderType, TimeInForce } from '../../src/gen/trading/v1/orders_pb.js';
import { dropRedisKeys, dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';
import { deploymentEnv, spawnApp, type AppProcess } from '../support/process.js';

/**
 * Issue 6: ROLE=api serves OrderService by calling ROLE=engine over internal gRPC; engine
 * shards elect a leader with a PostgreSQL advisory lock and a standby takes over when the
 * leader is SIGKILLed; one trace id runs from the client through api to engine.
 *
 * Three real processes on one schema: engine A (leader), engine B (standby), and an api whose
 * engine target lists both. Calls are spread over both; B's "not the leader" answers send them
 * on to A, and once A is gone, B leads.
 */

interface PlaceResponse {
  order: { orderId: string; status: number; filledQuantity: bigint };
  fills: { tradeId: string; quantity: bigint }[];
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

async function signUp(address: string, name: string): Promise<Metadata> {
  const auth = grpcClient(address, AuthService);
  try {
    const credentials = { username: name, password: 'long enough password' };
    assert.equal((await unary(auth, 'register', credentials)).error, null);
    const { error, response } = await unary<{ tokens: { accessToken: string } }>(
      auth,
      'login',
      credentials,
    );
    assert.equal(error, null);
    return bearer(response!.tokens.accessToken);
  } finally {
    auth.close();
  }
}

const limit = (clientOrderId: string, side: Side, quantity: bigint) => ({
  clientOrderId,
  symbol: 'BTC-USD',
  side,
  type: OrderType.LIMIT,
  timeInForce: TimeInForce.GTC,
  price: 60_000n,
  quantity,
});

async function readyz(app: AppProcess): Promise<number> {
  return (await fetch(`${app.httpUrl}/readyz`)).status;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const metric = (text: string, pattern: RegExp) =>
  text
    .split('\n')
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

test('api → engine over gRPC, leader election with takeover on SIGKILL, one trace', async (t) => {
  const schema = uniqueName('roles');
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-roles-'));
  const shared = {
    ...deploymentEnv(schema, dataDir),
    PG_POOL_MAX: '6',
    ENGINE_LEADER_POLL_MS: '200',
    TELEMETRY_ENABLED: 'true',
    LOG_LEVEL: 'info',
  };
  const apps: AppProcess[] = [];
  const clients: Client[] = [];
  t.after(async () => {
    for (const client of clients) client.close();
    for (const app of apps) app.child.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    await dropSchema(TEST_DATABASE_URL, schema);
    await dropRedisKeys(`${schema}:`);
    await rm(dataDir, { recursive: true, force: true });
  });

  const engineA = await spawnApp({ ...shared, ROLE: 'engine', POD_NAME: 'engine-a' });
  apps.push(engineA);
  await engineA.waitForLog('engine shard leadership acquired', 60_000);
  const engineB = await spawnApp({ ...shared, ROLE: 'engine', POD_NAME: 'engine-b' });
  apps.push(engineB);
  await engineB.waitForLog('engine shard standing by: another process leads it', 60_000);
  await engineB.waitForLog('app started');
  const api = await spawnApp({
    ...shared,
    ROLE: 'api',
    POD_NAME: 'api-0',
    ENGINE_ADDRESS: `ipv4:${engineA.grpcAddress},${engineB.grpcAddress}`,
  });
  apps.push(api);
  await api.waitForLog('app started', 60_000);

  // Both are ready (a standby is a healthy pod); /readyz says which one stands by.
  assert.equal(await readyz(engineA), 200);
  assert.equal(await readyz(engineB), 200);
  const standby = (await (await fetch(`${engineB.httpUrl}/readyz`)).json()) as {
    degraded: { name: string }[];
  };
  assert.deepEqual(
    standby.degraded.map((check) => check.name),
    ['engine-leader'],
  );

  const maker = await signUp(api.grpcAddress, 'roles_maker');
  const taker = await signUp(api.grpcAddress, 'roles_taker');
  const orders = grpcClient(api.grpcAddress, OrderService);
  clients.push(orders);

  // A traced call: the client's trace id must reach the engine's log line for Submit.
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traced = maker.clone();
  traced.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
  const resting = await unary<PlaceResponse>(
    orders,
    'placeOrder',
    limit('roles-1', Side.SELL, 3n),
    traced,
  );
  assert.equal(resting.error, null, resting.error?.message);
  // Each process logs its call once the call is over: wait for both lines.
  const callLine = (app: AppProcess, method: string) =>
    until(`${method} logged`, () =>
      Promise.resolve(
        app.lines.find((line) => line.msg === 'grpc call finished' && line.grpc_method === method),
      ),
    );
  assert.equal((await callLine(api, 'PlaceOrder')).trace_id, traceId);
  assert.equal((await callLine(engineA, 'Submit')).trace_id, traceId);
  // Round robin: some calls land on the standby, which answers "not the leader"; each is sent
  // on to the leader and succeeds.
  for (let i = 0; i < 6; i += 1) {
    const placed = await unary(orders, 'placeOrder', limit(`spread-${i}`, Side.SELL, 1n), maker);
    assert.equal(placed.error, null, placed.error?.message);
  }
  const standbyMetrics = await (await fetch(`${engineB.httpUrl}/metrics`)).text();
  assert.ok(
    metric(
      standbyMetrics,
      /^grpc_server_handled_total\{.*grpc_method="Submit".*grpc_code="Unavailable"/,
    ) >= 1,
    'the standby saw some of the calls',
  );
  const apiMetrics = await (await fetch(`${api.httpUrl}/metrics`)).text();
  assert.ok(
    metric(
      apiMetrics,
      /^grpc_client_handled_total\{.*grpc_service="trading\.internal\.v1\.EngineService".*grpc_code="OK"/,
    ) >= 1,
  );

  // The leader dies with the order resting; the standby takes the shard and rebuilds the book.
  engineA.child.kill('SIGKILL');
  await engineA.exited;
  await engineB.waitForLog('engine shard leadership acquired', 20_000);

  // Through the same api: the retry-safe place reaches B and trades with A's resting order.
  const crossed = await until('a place through the new leader', async () => {
    const { error, response } = await unary<PlaceResponse>(
      orders,
      'placeOrder',
      limit('roles-2', Side.BUY, 2n),
      taker,
    );
    return error === null ? response : undefined;
  });
  // The book was rebuilt: the buy trades with the oldest resting sell (A's first order).
  assert.equal(crossed.order.filledQuantity, 2n);
  assert.equal(crossed.fills.length, 1);

  // A repeat of the first place (an api retry) answers the original order, not a new one.
  const repeated = await unary<PlaceResponse>(
    orders,
    'placeOrder',
    limit('roles-1', Side.SELL, 3n),
    maker,
  );
  assert.equal(repeated.error, null);
  assert.equal(repeated.response?.order.orderId, resting.response?.order.orderId);
  assert.equal(repeated.response?.order.filledQuantity, 2n);
  const leader = (await (await fetch(`${engineB.httpUrl}/readyz`)).json()) as {
    degraded: unknown[];
  };
  assert.deepEqual(leader.degraded, []);
});
