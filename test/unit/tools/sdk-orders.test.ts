import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { status } from '@grpc/grpc-js';
import { connectTransport } from '../../../src/client/index.js';
import { OrderService } from '../../../src/gen/trading/v1/orders_pb.js';
import { RETRY_AFTER_KEY } from '../../../src/shared/grpc/error-metadata.js';
import { isQuotaRefusal, RETRYABLE } from '../../../src/tools/chaos/grpc-calls.js';
import { alternating, callFailure } from '../../../src/tools/chaos/sdk-orders.js';

const retrying = (error: unknown) => {
  const failure = callFailure(error);
  return RETRYABLE.has(failure.code) && !isQuotaRefusal(failure);
};

test('Connect codes become the gRPC codes the trader retries on, and only those', () => {
  const expected: [Code, status, boolean][] = [
    [Code.Unavailable, status.UNAVAILABLE, true],
    [Code.DeadlineExceeded, status.DEADLINE_EXCEEDED, true],
    [Code.Canceled, status.CANCELLED, true],
    [Code.Internal, status.INTERNAL, true],
    [Code.Unknown, status.UNKNOWN, true],
    [Code.InvalidArgument, status.INVALID_ARGUMENT, false],
    [Code.NotFound, status.NOT_FOUND, false],
    [Code.AlreadyExists, status.ALREADY_EXISTS, false],
    [Code.PermissionDenied, status.PERMISSION_DENIED, false],
    [Code.FailedPrecondition, status.FAILED_PRECONDITION, false],
    [Code.Aborted, status.ABORTED, false],
    [Code.OutOfRange, status.OUT_OF_RANGE, false],
    [Code.Unimplemented, status.UNIMPLEMENTED, false],
    [Code.DataLoss, status.DATA_LOSS, false],
    [Code.Unauthenticated, status.UNAUTHENTICATED, false],
  ];
  for (const [code, grpc, retried] of expected) {
    const error = new ConnectError('went wrong', code);
    const failure = callFailure(error);
    assert.equal(failure.code, grpc, Code[code]);
    assert.equal(failure.details, 'went wrong');
    assert.equal(retrying(error), retried, Code[code]);
  }
});

test('RESOURCE_EXHAUSTED is retried with retry-after-ms (a rate limit), not without (a quota)', () => {
  const limited = new ConnectError(
    'too many requests',
    Code.ResourceExhausted,
    new Headers({ [RETRY_AFTER_KEY]: '40' }),
  );
  const quota = new ConnectError('200 open orders: cancel one first', Code.ResourceExhausted);
  assert.equal(callFailure(limited).code, status.RESOURCE_EXHAUSTED);
  assert.deepEqual(callFailure(limited).metadata.get(RETRY_AFTER_KEY), ['40']);
  assert.equal(isQuotaRefusal(callFailure(limited)), false);
  assert.equal(retrying(limited), true);
  assert.equal(isQuotaRefusal(callFailure(quota)), true);
  assert.equal(retrying(quota), false);
});

test('an error that is not a ConnectError is judged as Connect would throw it', () => {
  assert.equal(callFailure(new TypeError('fetch failed')).code, status.UNKNOWN);
  assert.equal(retrying(new TypeError('fetch failed')), true);
});

/** A port that refuses connections: one opened and closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

test('a call to a dead pod fails as a retryable one, and the next goes to the other pod', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const called: string[] = [];
  const recording = (name: string) => {
    const transport = connectTransport(dead);
    return {
      ...transport,
      unary: ((...args: Parameters<typeof transport.unary>) => {
        called.push(name);
        return transport.unary(...args);
      }) as typeof transport.unary,
    };
  };
  const orders = createClient(OrderService, alternating([recording('a'), recording('b')]));
  for (let i = 0; i < 2; i += 1) {
    const failure = await orders.cancelOrder({ orderId: '1' }, { timeoutMs: 5_000 }).then(
      () => assert.fail('a dead pod answered'),
      (error: unknown) => callFailure(error),
    );
    assert.ok(RETRYABLE.has(failure.code), `${status[failure.code]}: ${failure.details}`);
  }
  assert.deepEqual(called, ['a', 'b']);
});
