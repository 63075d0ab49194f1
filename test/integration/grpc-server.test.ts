import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadSync } from '@grpc/proto-loader';
import {
  Client as GrpcClient,
  credentials,
  loadPackageDefinition,
  type ServiceError,
  status,
  type Client,
  type ClientDuplexStream,
} from '@grpc/grpc-js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { sample, startTestApp, type TestApp } from '../support/app.js';
import { grpcClient, healthClient, rawGrpcCall, unary } from '../support/grpc.js';

let app: TestApp;
let health: Client;
let orders: Client;

before(async () => {
  app = await startTestApp();
  health = healthClient(app.grpcAddress);
  orders = grpcClient(app.grpcAddress, OrderService);
});

after(async () => {
  health.close();
  orders.close();
  await app.stop();
});

const metrics = () => app.registry.metrics();

test('the health check answers SERVING for the server and for each service', async () => {
  for (const service of ['', 'trading.v1.OrderService']) {
    const { error, response } = await unary<{ status: string }>(health, 'check', { service });
    assert.equal(error, null);
    assert.equal(response?.status, 'SERVING');
  }
});

test('every method has zero-valued series before its first call', async () => {
  const labels = { grpc_service: 'trading.v1.OrderService', grpc_method: 'AmendOrder' };
  const text = await metrics();
  assert.equal(sample(text, 'grpc_server_started_total', labels), 0);
  assert.equal(sample(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'Internal' }), 0);
  assert.equal(sample(text, 'grpc_server_handling_seconds_count', labels), 0);
  assert.equal(
    sample(text, 'grpc_server_started_total', {
      grpc_service: 'trading.v1.MarketDataService',
      grpc_method: 'Subscribe',
      grpc_type: 'server_stream',
    }),
    0,
  );
});

test('an OK call is counted as started, handled with code OK, timed and its messages counted', async () => {
  const labels = {
    grpc_service: 'grpc.health.v1.Health',
    grpc_method: 'Check',
    grpc_type: 'unary',
  };
  const before =
    sample(await metrics(), 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' }) ?? 0;
  const beforeCount = sample(await metrics(), 'grpc_server_handling_seconds_count', labels) ?? 0;

  await unary(health, 'check', { service: '' });

  const text = await metrics();
  assert.equal(
    sample(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'OK' }),
    before + 1,
  );
  assert.equal(sample(text, 'grpc_server_handling_seconds_count', labels), beforeCount + 1);
  assert.ok((sample(text, 'grpc_server_msg_received_total', labels) ?? 0) >= 1);
  assert.ok((sample(text, 'grpc_server_msg_sent_total', labels) ?? 0) >= 1);
});

test('an error call is counted under its code name and logged with code and duration', async () => {
  const { error } = await unary(health, 'check', { service: 'no.such.Service' });
  assert.equal(error?.code, status.NOT_FOUND);

  const text = await metrics();
  assert.equal(
    sample(text, 'grpc_server_handled_total', {
      grpc_service: 'grpc.health.v1.Health',
      grpc_method: 'Check',
      grpc_code: 'NotFound',
    }),
    1,
  );
  const line = app.logs.find('grpc call finished', { grpc_code: 'NotFound' });
  assert.ok(line);
  assert.equal(line.grpc_method, 'Check');
  assert.equal(typeof line.duration_ms, 'number');
});

test('server reflection lists every service, so grpcurl works without .proto files', async () => {
  const definition = loadSync('grpc/reflection/v1/reflection.proto', {
    includeDirs: ['node_modules/@grpc/reflection/build/proto'],
  });
  const pkg = loadPackageDefinition(definition) as unknown as {
    grpc: {
      reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => Client } };
    };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(
    app.grpcAddress,
    credentials.createInsecure(),
  );
  interface ListResponse {
    listServicesResponse: { service: { name: string }[] };
  }
  const call = (
    client as unknown as {
      serverReflectionInfo: () => ClientDuplexStream<{ listServices: string }, ListResponse>;
    }
  ).serverReflectionInfo();
  const response = await new Promise<ListResponse>((resolve, reject) => {
    call.on('data', resolve);
    call.on('error', reject);
    call.write({ listServices: '' });
  });
  call.cancel();
  client.close();
  const names = response.listServicesResponse.service.map((s) => s.name);
  for (const name of [
    'trading.v1.AuthService',
    'trading.v1.OrderService',
    'trading.v1.AccountService',
    'trading.v1.MarketDataService',
    'trading.v1.SessionService',
    'grpc.health.v1.Health',
  ]) {
    assert.ok(names.includes(name), `${name} missing from ${names.join(', ')}`);
  }
});

test('bytes that are not a valid request message get INVALID_ARGUMENT, not INTERNAL', async () => {
  const raw = new GrpcClient(app.grpcAddress, credentials.createInsecure());
  // Field 1 (username) claims 5 bytes but only 2 follow.
  const truncated = Buffer.from([0x0a, 0x05, 0x61, 0x62]);
  const error = await new Promise<ServiceError | null>((resolve) => {
    raw.makeUnaryRequest(
      '/trading.v1.AuthService/Register',
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
      truncated,
      (err) => {
        resolve(err);
      },
    );
  });
  raw.close();
  assert.equal(error?.code, status.INVALID_ARGUMENT);
  assert.match(error.details, /^request is not a valid trading\.v1\.RegisterRequest message/);
});

/** Error-level log lines written while `fn` runs. */
async function errorLinesDuring(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const from = app.logs.lines.length;
  await fn();
  return app.logs.lines.slice(from).filter((line) => line.level === 'error');
}

for (const { path, type } of [
  { path: '/trading.v1.AuthService/Register', type: 'unary' },
  { path: '/trading.v1.MarketDataService/Subscribe', type: 'server_stream' },
]) {
  test(`a ${type} call with no request message gets INVALID_ARGUMENT, logged as a client error`, async () => {
    const [, service = '', method = ''] = path.split('/');
    const labels = { grpc_service: service, grpc_method: method, grpc_type: type };
    const counted = () =>
      metrics().then(
        (text) =>
          sample(text, 'grpc_server_handled_total', { ...labels, grpc_code: 'InvalidArgument' }) ??
          0,
      );
    const before = await counted();
    let answer: Awaited<ReturnType<typeof rawGrpcCall>> | undefined;

    const errors = await errorLinesDuring(async () => {
      answer = await rawGrpcCall(app.grpcAddress, path);
    });

    assert.equal(answer?.status, status.INVALID_ARGUMENT);
    assert.match(answer.message, /carried no request message/);
    assert.deepEqual(errors, []);
    assert.equal(await counted(), before + 1);
    const line = app.logs.find('grpc call finished', {
      grpc_method: method,
      grpc_code: 'InvalidArgument',
    });
    assert.equal(line?.level, 'info');
  });
}

test('a unary call with two request messages gets INVALID_ARGUMENT, logged as a client error', async () => {
  let answer: Awaited<ReturnType<typeof rawGrpcCall>> | undefined;
  const errors = await errorLinesDuring(async () => {
    answer = await rawGrpcCall(app.grpcAddress, '/trading.v1.AuthService/Register', [
      new Uint8Array(),
      new Uint8Array(),
    ]);
  });
  assert.equal(answer?.status, status.INVALID_ARGUMENT);
  assert.match(answer.message, /more than one request message/);
  assert.deepEqual(errors, []);
});

test('a malformed grpc-timeout is INVALID_ARGUMENT, as on the HTTP port, logged as a client error', async () => {
  const counted = () =>
    metrics().then(
      (text) =>
        sample(text, 'grpc_server_handled_total', {
          grpc_method: 'GetOrderBook',
          grpc_code: 'InvalidArgument',
        }) ?? 0,
    );
  const before = await counted();
  const request = Buffer.from([0x0a, 0x07, ...Buffer.from('BTC-USD')]);
  const answers: Awaited<ReturnType<typeof rawGrpcCall>>[] = [];

  const errors = await errorLinesDuring(async () => {
    for (const timeout of ['x', '1.5S', '123456789m', '10 s']) {
      answers.push(
        await rawGrpcCall(
          app.grpcAddress,
          '/trading.v1.MarketDataService/GetOrderBook',
          [request],
          {
            'grpc-timeout': timeout,
          },
        ),
      );
    }
  });
  const wellFormed = await rawGrpcCall(
    app.grpcAddress,
    '/trading.v1.MarketDataService/GetOrderBook',
    [request],
    // A client cannot forge the header the guard sets aside a malformed timeout in.
    { 'grpc-timeout': '5S', 'x-malformed-grpc-timeout': 'x' },
  );

  for (const answer of answers) {
    assert.equal(answer.status, status.INVALID_ARGUMENT, answer.message);
    assert.match(answer.message, /grpc-timeout .* is not 1 to 8 digits and a unit/);
  }
  assert.deepEqual(errors, []);
  assert.equal(await counted(), before + answers.length);
  assert.equal(wellFormed.status, status.OK, wellFormed.message);
});
