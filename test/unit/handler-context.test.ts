import assert from 'node:assert/strict';
import { EventEmitter, getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { createContextValues } from '@connectrpc/connect';
import { Metadata } from '@grpc/grpc-js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import { GrpcHandlerContext } from '../../src/transport/grpc/handler-context.js';

const method = OrderService.method.placeOrder;

function fakeCall(deadline: Date | number = Infinity) {
  const call = Object.assign(new EventEmitter(), {
    metadata: new Metadata(),
    getDeadline: () => deadline,
  });
  return call;
}

const contextFor = (call: ReturnType<typeof fakeCall>, shutdownSignal?: AbortSignal) =>
  new GrpcHandlerContext({
    service: OrderService,
    method,
    call,
    values: createContextValues(),
    shutdownSignal,
  });

describe('GrpcHandlerContext', () => {
  it('describes the call like Connect does', () => {
    const call = fakeCall();
    call.metadata.set('authorization', 'Bearer x');
    const context = contextFor(call);
    assert.equal(context.url, '/trading.v1.OrderService/PlaceOrder');
    assert.equal(context.protocolName, 'grpc');
    assert.equal(context.requestHeader.get('authorization'), 'Bearer x');
    assert.equal(context.timeoutMs(), undefined);
  });

  it('aborts its signal when the client cancels, before or after the handler asks for it', () => {
    const early = fakeCall();
    const earlyContext = contextFor(early);
    early.emit('cancelled');
    assert.equal(earlyContext.signal.aborted, true);

    const late = fakeCall();
    const lateContext = contextFor(late);
    const { signal } = lateContext;
    assert.equal(signal.aborted, false);
    late.emit('cancelled');
    assert.equal(signal.aborted, true);
    assert.match((signal.reason as Error).message, /cancelled/);
  });

  it('aborts its signal at the deadline', async () => {
    const context = contextFor(fakeCall(Date.now() + 20));
    const remaining = context.timeoutMs() ?? 0;
    assert.ok(remaining > 0 && remaining <= 20);
    const { signal } = context;
    await new Promise((resolve) => {
      signal.addEventListener('abort', resolve);
    });
    assert.match((signal.reason as Error).message, /deadline/);
  });

  it('aborts its signal when the server shuts down, and leaves no listener once released', () => {
    const shutdown = new AbortController();
    const running = contextFor(fakeCall(), shutdown.signal);
    const finished = contextFor(fakeCall(), shutdown.signal);
    const { signal } = running;
    assert.equal(finished.signal.aborted, false);
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 2);

    finished.release();
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
    shutdown.abort(new Error('server shutting down'));
    assert.equal(signal.aborted, true);
  });

  it('costs no signal, timer or headers when the handler touches none', () => {
    const shutdown = new AbortController();
    const context = contextFor(fakeCall(Date.now() + 60_000), shutdown.signal);
    // Nothing is linked to the shutdown signal until a handler asks for its own signal.
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
    context.release();
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
    assert.equal(context.trailers(), undefined);
  });

  it('turns the trailers a handler set into gRPC metadata', () => {
    const context = contextFor(fakeCall());
    context.responseTrailer.set('retry-after-ms', '100');
    assert.deepEqual(context.trailers()?.get('retry-after-ms'), ['100']);
  });
});
