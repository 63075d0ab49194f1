import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { DomainError } from '../../src/domain/errors.js';
import { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderService, type OrderEntryResponse } from '../../src/gen/trading/v1/orders_pb.js';
import { ORDER_ENTRY_IN_FLIGHT } from '../../src/transport/rpc/order-entry.rpc.js';
import { grpcServiceDefinition } from '../../src/shared/grpc/service-definition.js';
import { grpcClient } from '../support/grpc.js';
import { placeRequest } from '../support/order-requests.js';
import { captureLogger, metricValue } from '../unit/adapters/support/observability.js';
import { OrdersHarness } from '../unit/orders/support/orders-harness.js';

/** Every this-many-th PlaceOrder charge of a user is refused, as a spent rate limit would be. */
const REFUSE_EVERY = 1_000;

type Duplex = ClientDuplexStream<Record<string, unknown>, OrderEntryResponse>;

/** An order-entry session: send requests, collect answers, end, and learn the final status. */
function session(client: Client, metadata: Metadata) {
  const open = (client as unknown as Record<string, (m: Metadata) => Duplex>).orderEntry;
  if (open === undefined) throw new Error('no orderEntry method');
  const call = open.call(client, metadata);
  const answers: OrderEntryResponse[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  call.on('data', (answer: OrderEntryResponse) => {
    answers.push(answer);
    for (const waiter of waiters.filter((w) => answers.length >= w.count)) waiter.resolve();
  });
  const ended = new Promise<StatusObject>((resolve) => {
    call.on('status', resolve);
    call.on('error', () => undefined); // the status says it
  });
  return {
    call,
    answers,
    ended,
    send: (request: Record<string, unknown>) => call.write(request),
    /** Resolves once `count` answers have arrived. */
    answered: (count: number) =>
      new Promise<void>((resolve) => {
        if (answers.length >= count) resolve();
        else waiters.push({ count, resolve });
      }),
    byId: (requestId: bigint) => answers.find((answer) => answer.requestId === requestId),
  };
}

/** An order-entry request placing `placeRequest(clientOrderId, overrides)`. */
const place = (
  requestId: bigint,
  clientOrderId: string,
  overrides: Record<string, unknown> = {},
) => ({
  requestId,
  command: { case: 'place', value: placeRequest(clientOrderId, overrides) },
});

describe('OrderService.OrderEntry over gRPC', () => {
  const harness = new OrdersHarness();
  let address: string;
  let orders: Client;
  const charges = new Map<string, number>();

  before(async () => {
    await harness.start();
    address = await harness.serveGrpc({
      limitCall: (principal, method) => {
        const key = `${principal.userId}/${method.name}`;
        const n = (charges.get(key) ?? 0) + 1;
        charges.set(key, n);
        return n % REFUSE_EVERY === 0
          ? Promise.reject(
              new DomainError('resource_exhausted', 'too many requests', { retryAfterMs: 250 }),
            )
          : Promise.resolve();
      },
    });
    orders = grpcClient(address, OrderService);
  });
  after(async () => {
    orders.close();
    await harness.stop();
  });

  test('a session needs an access token', async () => {
    const anonymous = session(orders, new Metadata());
    anonymous.send(place(1n, 'x'));

    const ended = await anonymous.ended;

    assert.equal(ended.code, status.UNAUTHENTICATED);
    assert.equal(anonymous.answers.length, 0);
  });

  test('places, amends and cancels on one stream; a refused command is answered and the session goes on', async () => {
    const alice = await harness.user();
    const s = session(orders, await harness.bearer(alice));

    s.send(place(1n, 'entry-1'));
    s.send(place(2n, 'entry-bad', { price: 60_000n, quantity: 0n }));
    s.send({ requestId: 3n });
    await s.answered(3);
    const orderId = s.byId(1n)?.result.case === 'placed' ? s.byId(1n)?.result.value : undefined;
    assert.ok(orderId !== undefined && 'order' in orderId);
    const id = orderId.order?.orderId;
    s.send({ requestId: 4n, command: { case: 'amend', value: { orderId: id, quantity: 3n } } });
    await s.answered(4);
    s.send({ requestId: 5n, command: { case: 'cancel', value: { orderId: id } } });
    s.send(place(6n, 'entry-1')); // the same client order id: the original order, not a second
    await s.answered(6);
    s.call.end();
    const ended = await s.ended;

    assert.equal(ended.code, status.OK);
    const bad = s.byId(2n)?.result;
    assert.equal(bad?.case, 'error');
    assert.equal(bad.value.code, status.INVALID_ARGUMENT);
    assert.match(bad.value.message, /quantity/);
    const empty = s.byId(3n)?.result;
    assert.equal(empty?.case, 'error');
    assert.equal(empty.value.code, status.INVALID_ARGUMENT);
    assert.match(empty.value.message, /needs a command/);
    const amended = s.byId(4n)?.result;
    assert.equal(amended?.case, 'amended');
    assert.equal(amended.value.order?.quantity, 3n);
    const canceled = s.byId(5n)?.result;
    assert.equal(canceled?.case, 'canceled');
    assert.equal(canceled.value.order?.orderId, id);
    const replayed = s.byId(6n)?.result;
    assert.equal(replayed?.case, 'placed');
    assert.equal(replayed.value.order?.orderId, id);
  });

  test("another user's order is NOT_FOUND, and its data is not shown", async () => {
    const alice = await harness.user();
    const bob = await harness.user();
    const a = session(orders, await harness.bearer(alice));
    a.send(place(1n, 'mine'));
    await a.answered(1);
    const placed = a.byId(1n)?.result;
    assert.equal(placed?.case, 'placed');
    const b = session(orders, await harness.bearer(bob));

    b.send({
      requestId: 1n,
      command: { case: 'cancel', value: { orderId: placed.value.order?.orderId } },
    });
    await b.answered(1);
    a.call.end();
    b.call.end();

    const refused = b.byId(1n)?.result;
    assert.equal(refused?.case, 'error');
    assert.equal(refused.value.code, status.NOT_FOUND);
    assert.doesNotMatch(refused.value.message, /60000|BTC-USD|mine/);
  });

  test('more commands than may run at once are all answered, each once, and the client may half-close first', async () => {
    const count = ORDER_ENTRY_IN_FLIGHT * 3;
    const carol = await harness.user({ USD: 10_000_000_000n, BTC: 10_000_000_000n });
    const s = session(orders, await harness.bearer(carol));

    for (let i = 1; i <= count; i += 1) {
      s.send(place(BigInt(i), `bulk-${i}`, { side: i % 2 === 0 ? Side.BUY : Side.SELL }));
    }
    s.call.end();
    const ended = await s.ended;

    assert.equal(ended.code, status.OK);
    const ids = s.answers.map((answer) => Number(answer.requestId)).sort((x, y) => x - y);
    assert.deepEqual(
      ids,
      Array.from({ length: count }, (_, i) => i + 1),
    );
    assert.deepEqual(
      s.answers.filter((answer) => answer.result.case !== 'placed'),
      [],
    );
  });

  test('each command is charged against the rate limit like its unary call', async () => {
    const dave = await harness.user({ USD: 10_000_000_000n, BTC: 10_000_000_000n });
    charges.set(`${String(dave)}/PlaceOrder`, REFUSE_EVERY - 2);
    const s = session(orders, await harness.bearer(dave));

    for (let i = 1n; i <= 3n; i += 1n) {
      s.send(place(i, `limited-${i}`));
      await s.answered(Number(i));
    }
    s.call.end();
    await s.ended;

    assert.deepEqual(
      s.answers.map((answer) => answer.result.case),
      ['placed', 'error', 'placed'],
    );
    const refused = s.byId(2n)?.result;
    assert.equal(refused?.case, 'error');
    assert.equal(refused.value.code, status.RESOURCE_EXHAUSTED);
    assert.equal(refused.value.retryAfterMs, 250);
  });

  test('a malformed message ends only its own stream with INVALID_ARGUMENT', async () => {
    const erin = await harness.user();
    const auth = await harness.bearer(erin);
    // A client whose messages are bytes that are no OrderEntryRequest.
    const definition = grpcServiceDefinition(OrderService);
    const raw = makeGenericClientConstructor(
      {
        orderEntry: {
          ...definition.orderEntry!,
          requestSerialize: () => Buffer.from([0x0a, 0xff, 0xff, 0xff]),
        },
      },
      'raw',
    );
    const broken = new raw(address, credentials.createInsecure());
    const good = session(orders, auth);
    good.send(place(1n, 'before'));
    await good.answered(1);

    const bad = session(broken, auth);
    bad.send({});
    const ended = await bad.ended;
    good.send(place(2n, 'after'));
    await good.answered(2);
    good.call.end();
    broken.close();

    assert.equal(ended.code, status.INVALID_ARGUMENT);
    assert.match(ended.details, /not a valid trading\.v1\.OrderEntryRequest/);
    assert.equal(good.byId(2n)?.result.case, 'placed');
    assert.equal((await good.ended).code, status.OK);
  });

  test('commands and sessions are measured', async () => {
    const registry = harness.registry;
    const answered = async (command: string, code: string) =>
      (await metricValue(registry, 'order_entry_commands_total', { command, code })) ?? 0;
    const timedPlaces = async () =>
      (await metricValue(
        registry,
        'order_entry_command_seconds',
        { command: 'place' },
        'order_entry_command_seconds_count',
      )) ?? 0;
    const reading = async () => ({
      placed: await answered('place', 'OK'),
      invalid: await answered('place', 'InvalidArgument'),
      empty: await answered('none', 'InvalidArgument'),
      timed: await timedPlaces(),
    });
    const before = await reading();
    const sessionsBefore = (await metricValue(registry, 'order_entry_sessions')) ?? 0;
    const gina = await harness.user();
    const s = session(orders, await harness.bearer(gina));

    s.send(place(1n, 'measured-1'));
    s.send(place(2n, 'measured-2'));
    s.send(place(3n, 'measured-bad', { quantity: 0n }));
    s.send({ requestId: 4n });
    await s.answered(4);
    const sessionsOpen = await metricValue(registry, 'order_entry_sessions');
    s.call.end();
    await s.ended;
    const after = await reading();

    assert.equal(sessionsOpen, sessionsBefore + 1);
    assert.equal(await metricValue(registry, 'order_entry_sessions'), sessionsBefore);
    assert.deepEqual(
      {
        placed: after.placed - before.placed,
        invalid: after.invalid - before.invalid,
        empty: after.empty - before.empty,
        timed: after.timed - before.timed,
      },
      { placed: 2, invalid: 1, empty: 1, timed: 3 },
    );
  });
});

describe('OrderService.OrderEntry when the server shuts down', () => {
  const { logger, lines } = captureLogger();
  const harness = new OrdersHarness({}, { logger });

  before(() => harness.start());
  after(() => harness.stop());

  test('every command read is answered, then the stream ends UNAVAILABLE and the drain completes', async () => {
    const address = await harness.serveGrpc();
    const client = grpcClient(address, OrderService);
    const frank = await harness.user({ USD: 10_000_000_000n, BTC: 10_000_000_000n });
    const s = session(client, await harness.bearer(frank));
    const count = 200;
    for (let i = 1; i <= count; i += 1) {
      s.send(place(BigInt(i), `drain-${i}`, { side: i % 2 === 0 ? Side.BUY : Side.SELL }));
    }
    await s.answered(1); // commands are running

    await harness.drainGrpc(); // resolves only once the stream has ended
    const ended = await s.ended;
    client.close();

    assert.equal(ended.code, status.UNAVAILABLE);
    assert.match(ended.details, /shutting down; reconnect/);
    const ids = s.answers.map((answer) => answer.requestId);
    assert.equal(new Set(ids).size, ids.length, 'no command answered twice');
    assert.deepEqual(
      s.answers.filter((answer) => answer.result.case !== 'placed'),
      [],
    );
    // Every answered order is durable.
    const placed = s.answers.map((answer) =>
      answer.result.case === 'placed' ? answer.result.value.order?.orderId : undefined,
    );
    const { rows } = await harness.postgres.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::bigint[])',
      [placed],
    );
    assert.equal(Number(rows[0]?.n), placed.length);
    // Expected in a rollout: logged as an ordinary call, not as an error.
    const finished = lines.find(
      (line) => line.msg === 'grpc call finished' && line.grpc_method === 'OrderEntry',
    );
    assert.equal(finished?.grpc_code, 'Unavailable');
    assert.equal(finished.level, 30);
    const closed = lines.find((line) => line.msg === 'order entry session closed');
    assert.equal(closed?.commands, s.answers.length);
  });
});
