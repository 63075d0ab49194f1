import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createContextValues, type HandlerContext } from '@connectrpc/connect';
import { Registry } from 'prom-client';
import {
  OrderEntryRequestSchema,
  PlaceOrderResponseSchema,
  type OrderEntryRequest,
  type OrderEntryResponse,
  type PlaceOrderRequest,
} from '../../src/gen/trading/v1/orders_pb.js';
import { principalKey } from '../../src/transport/rpc/call-context.js';
import { orderEntry, ORDER_ENTRY_IN_FLIGHT } from '../../src/transport/rpc/order-entry.rpc.js';
import type { OrderCommands } from '../../src/transport/rpc/order-commands.js';
import { silentLogger } from './adapters/support/observability.js';

/** A promise with its resolvers, to settle commands in a chosen order. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

const context = () => {
  const values = createContextValues();
  values.set(principalKey, { userId: '7', sessionId: 's' });
  return { values } as unknown as HandlerContext;
};

const placing = (requestId: number, clientOrderId: string): OrderEntryRequest =>
  create(OrderEntryRequestSchema, {
    requestId: BigInt(requestId),
    command: { case: 'place', value: { clientOrderId } },
  });

/** Commands whose places are answered by `place` (by client order id); cancel and amend unused. */
const commands = (place: (request: PlaceOrderRequest) => Promise<void>): OrderCommands =>
  ({
    place: async (_userId: number, request: PlaceOrderRequest) => {
      await place(request);
      return create(PlaceOrderResponseSchema, {});
    },
  }) as unknown as OrderCommands;

const session = (place: (request: PlaceOrderRequest) => Promise<void>) =>
  orderEntry(commands(place), { registry: new Registry(), logger: silentLogger() });

/** A request stream the test feeds, ended (or failed) when the test says. */
function feed() {
  const queue: OrderEntryRequest[] = [];
  let wake: (() => void) | undefined;
  let end: { error?: Error } | undefined;
  const push = (request: OrderEntryRequest) => {
    queue.push(request);
    wake?.();
  };
  const close = (error?: Error) => {
    end = error === undefined ? {} : { error };
    wake?.();
  };
  async function* requests(): AsyncGenerator<OrderEntryRequest> {
    for (;;) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (end?.error !== undefined) throw end.error;
      if (end !== undefined) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  return { requests: requests(), push, close };
}

const collect = async (answers: AsyncIterable<OrderEntryResponse>, into: OrderEntryResponse[]) => {
  for await (const answer of answers) into.push(answer);
};

const tick = () => new Promise((resolve) => setImmediate(resolve));
const ids = (answers: OrderEntryResponse[]) => answers.map((a) => Number(a.requestId));

test('answers each command as soon as it is done, not in request order', async () => {
  const slow = deferred<undefined>();
  const { requests, push, close } = feed();
  const answers: OrderEntryResponse[] = [];
  const done = collect(
    session((request) => (request.clientOrderId === 'slow' ? slow.promise : Promise.resolve()))(
      requests,
      context(),
    ),
    answers,
  );
  push(placing(1, 'slow'));
  push(placing(2, 'fast'));
  await tick();
  assert.deepEqual(ids(answers), [2]);
  slow.resolve(undefined);
  close();
  await done;

  assert.deepEqual(ids(answers), [2, 1]);
});

test(`reads no more than ${String(ORDER_ENTRY_IN_FLIGHT)} commands ahead of their answers`, async () => {
  const started: string[] = [];
  const release = deferred<undefined>();
  const { requests, push, close } = feed();
  for (let i = 1; i <= ORDER_ENTRY_IN_FLIGHT + 10; i += 1) push(placing(i, `c${String(i)}`));
  const answers: OrderEntryResponse[] = [];
  const done = collect(
    session((request) => {
      started.push(request.clientOrderId);
      return release.promise;
    })(requests, context()),
    answers,
  );
  await tick();
  assert.equal(started.length, ORDER_ENTRY_IN_FLIGHT);
  release.resolve(undefined);
  close();
  await done;

  assert.equal(answers.length, ORDER_ENTRY_IN_FLIGHT + 10);
});

test('a request that cannot be read ends the session, after the commands already read are answered', async () => {
  const slow = deferred<undefined>();
  const { requests, push, close } = feed();
  const answers: OrderEntryResponse[] = [];
  const done = collect(session(() => slow.promise)(requests, context()), answers);
  push(placing(1, 'running'));
  await tick();
  close(new Error('request is not a valid trading.v1.OrderEntryRequest message'));
  const outcome = assert.rejects(done, /not a valid/);
  await tick();
  slow.resolve(undefined);

  await outcome;
  assert.deepEqual(ids(answers), [1]);
  assert.equal(answers[0]?.result.case, 'placed');
});

test('a bug stops the reading, answers the commands already running, then ends the session', async () => {
  const slow = deferred<undefined>();
  const { requests, push } = feed();
  const answers: OrderEntryResponse[] = [];
  const done = collect(
    session((request) =>
      request.clientOrderId === 'bug' ? Promise.reject(new TypeError('a bug')) : slow.promise,
    )(requests, context()),
    answers,
  );
  const outcome = assert.rejects(done, /a bug/);
  push(placing(1, 'running'));
  await tick();
  push(placing(2, 'bug'));
  await tick();
  push(placing(3, 'after the bug'));
  slow.resolve(undefined);

  await outcome; // the client never half-closed: the bug alone ended the session (INTERNAL)
  assert.deepEqual(ids(answers), [1]);
});
