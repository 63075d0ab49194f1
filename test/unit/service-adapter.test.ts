import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { AuthService } from '../../src/gen/trading/v1/auth_pb.js';
import { grpcServiceImplementation } from '../../src/transport/grpc/service-adapter.js';
import { LogCapture } from '../support/app.js';

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
  const timers = process
    .getActiveResourcesInfo()
    .filter((resource) => resource === 'Timeout').length;
  assert.ok(timers < 50, `${timers} timers still pending after 50 finished calls`);
});
