import assert from 'node:assert/strict';
import { EventEmitter, getEventListeners } from 'node:events';
import { test } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { create } from '@bufbuild/protobuf';
import { randomUUID } from 'node:crypto';
import { Metadata, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { OrderEntryRequestSchema, OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { SessionService } from '../../src/gen/trading/v1/session_pb.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { createMetricsRegistry } from '../../src/telemetry/index.js';
import { registration, startGrpcServer } from '../../src/transport/grpc/server.js';
import { grpcServiceImplementation } from '../../src/transport/grpc/service-adapter.js';
import { LogCapture, sample } from '../support/app.js';
import { grpcClient, unary } from '../support/grpc.js';

type Unary = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

const fakeCall = (deadline: number) =>
  ({
    request: { username: 'ann', password: 'x' },
    metadata: new Metadata(),
    getPeer: () => 'ipv4:127.0.0.1:5000',
    getDeadline: () => deadline,
    once: () => undefined,
  }) as unknown as ServerUnaryCall<unknown, unknown>;

test('finished calls leave no listener on the shutdown signal and no deadline timer', async () => {
  const shutdown = new AbortController();
  const handlers = grpcServiceImplementation(
    AuthService,
    { register: () => ({ userId: '1' }) },
    { logger: new LogCapture().logger(), shutdownSignal: shutdown.signal },
  );
  const register = handlers.register as Unary;
  const pendingTimers = () =>
    process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
  const timersBefore = pendingTimers();

  for (let i = 0; i < 50; i += 1) {
    await new Promise<void>((resolve) => {
      register(fakeCall(Date.now() + 60_000), (error) => {
        assert.equal(error, null);
        resolve();
      });
    });
  }
  // The context is released just after the callback: let that turn of the loop finish.
  await new Promise((resolve) => setImmediate(resolve));

  assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
  assert.equal(pendingTimers() - timersBefore, 0, 'timers still pending after 50 finished calls');
});

/** Runs a full garbage collection (the flag is set at run time, so tests need no node option). */
function collectGarbage(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

test('a long bidirectional stream keeps no request it has answered', async () => {
  // A trading client keeps one OrderEntry stream open for hours: every request it has been
  // answered for must be collectable, or the server's memory grows with each message.
  const gc = collectGarbage();
  const handlers = grpcServiceImplementation(
    OrderService,
    {
      async *orderEntry(requests) {
        for await (const request of requests) yield { requestId: request.requestId };
      },
    },
    { logger: new LogCapture().logger(), shutdownSignal: new AbortController().signal },
  );
  const sent: WeakRef<object>[] = [];
  let answered = 0;
  let release: () => void = () => undefined;
  const open = new Promise<void>((resolve) => {
    release = resolve;
  });
  async function* requests() {
    for (let i = 1; i <= 200; i += 1) {
      const request = create(OrderEntryRequestSchema, { requestId: BigInt(i) });
      sent.push(new WeakRef(request));
      yield request;
    }
    await open; // the client keeps the stream open
  }
  const call = Object.assign(new EventEmitter(), {
    metadata: new Metadata(),
    getPeer: () => 'ipv4:127.0.0.1:5000',
    getDeadline: () => Infinity,
    iterator: () => requests(),
    write: () => {
      answered += 1;
      return true;
    },
    end: () => undefined,
  });
  (handlers.orderEntry as (call: unknown) => void)(call);
  while (answered < 200) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));

  const kept = sent.filter((ref) => ref.deref() !== undefined).length;
  // The request being read may be held; all the others are answered and gone.
  assert.ok(kept <= 1, `${kept} of 200 answered requests are still reachable`);
  release();
});

test('a method missing from the implementation answers UNIMPLEMENTED, naming it', async () => {
  const handlers = grpcServiceImplementation(
    SessionService,
    {},
    { logger: new LogCapture().logger() },
  );
  const reauthenticate = handlers.reauthenticate as Unary;

  const error = await new Promise<(Error & { code?: number; details?: string }) | null>(
    (resolve) => {
      reauthenticate(fakeCall(Date.now() + 60_000), (failure) => {
        resolve(failure as (Error & { code?: number; details?: string }) | null);
      });
    },
  );

  assert.equal(error?.code, status.UNIMPLEMENTED);
  assert.equal(error.details, 'trading.v1.SessionService/Reauthenticate is not implemented yet');
});

test('an UNIMPLEMENTED answer is counted like any other, after authentication', async () => {
  const registry = createMetricsRegistry({ version: 't', role: 'all' });
  const server = await startGrpcServer(
    {
      host: '127.0.0.1',
      port: 0,
      logger: new LogCapture().logger(),
      registry,
      readiness: new Readiness(),
      tls: undefined,
      authenticate: (token) =>
        token === 'good'
          ? Promise.resolve({ userId: '1', sessionId: randomUUID() })
          : Promise.reject(new Error('bad token')),
    },
    [registration(SessionService, {})],
  );
  const client = grpcClient(`127.0.0.1:${server.port}`, SessionService);
  const auth = new Metadata();
  auth.set('authorization', 'Bearer good');

  const { error } = await unary(client, 'reauthenticate', { sessionId: 's' }, auth);
  client.close();
  await server.drain();

  assert.equal(error?.code, status.UNIMPLEMENTED);
  assert.equal(
    sample(await registry.metrics(), 'grpc_server_handled_total', {
      grpc_service: 'trading.v1.SessionService',
      grpc_method: 'Reauthenticate',
      grpc_code: 'Unimplemented',
    }),
    1,
  );
});
