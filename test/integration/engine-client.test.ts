import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { GrpcOrderEngine } from '../../src/adapters/engine/grpc-order-engine.js';
import { DomainError } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/orders/order.js';
import {
  NOT_LEADER_DEPENDENCY,
  type OrderCommand,
  type OrderEngine,
  type Submitted,
} from '../../src/domain/orders/order-engine.port.js';
import { EngineService } from '../../src/gen/trading/internal/v1/engine_pb.js';
import { Readiness } from '../../src/lifecycle/readiness.js';
import { registration, startGrpcServer, type GrpcServer } from '../../src/transport/grpc/server.js';
import { engineRpc } from '../../src/transport/rpc/engine.rpc.js';
import { freePort } from '../support/process.js';
import { silentLogger } from '../unit/adapters/support/observability.js';

const ORDER: Order = {
  id: 9_007_199_254_740_000,
  userId: 42,
  clientOrderId: 'c-1',
  symbol: 'BTC-USD',
  side: 'sell',
  type: 'limit',
  timeInForce: 'GTC',
  price: 65_000,
  reservePrice: 65_000,
  quantity: 3,
  filled: 1,
  status: 'partially_filled',
  postOnly: false,
  reason: '',
  priority: 17,
  createdAt: new Date('2026-11-25T10:00:00.123Z'),
  updatedAt: new Date('2026-11-25T10:00:01.456Z'),
};

/** An engine that records commands and answers what the test scripted. */
class ScriptedEngine implements OrderEngine {
  readonly commands: OrderCommand[] = [];
  answer: (command: OrderCommand) => Promise<Submitted> = () =>
    Promise.resolve({
      result: {
        order: ORDER,
        fills: [{ tradeId: 5, orderId: ORDER.id, price: 65_000, quantity: 1, maker: true }],
      },
      replayed: true,
    });

  submit(command: OrderCommand): Promise<Submitted> {
    this.commands.push(command);
    return this.answer(command);
  }
}

const logger = silentLogger();

describe('api → engine over internal gRPC', () => {
  const engine = new ScriptedEngine();
  let server: GrpcServer;
  let client: GrpcOrderEngine;
  const registry = new Registry();

  before(async () => {
    server = await startGrpcServer(
      {
        host: '127.0.0.1',
        port: 0,
        logger,
        registry: new Registry(),
        readiness: new Readiness(),
        tls: undefined,
        // Users' tokens are not what guards the internal service: no bearer is sent.
        authenticate: () => Promise.reject(new DomainError('unauthenticated', 'no')),
      },
      [registration(EngineService, engineRpc(engine))],
    );
    client = new GrpcOrderEngine({
      address: `127.0.0.1:${server.port}`,
      tls: undefined,
      timeoutMs: 2_000,
      breaker: { threshold: 3, halfOpenAfterMs: 60_000 },
      logger,
      registry,
    });
  });
  after(async () => {
    client.close();
    await server.drain();
  });

  test('every command kind and its result survive the round trip unchanged', async () => {
    const commands: OrderCommand[] = [
      {
        kind: 'place',
        userId: 42,
        symbol: 'BTC-USD',
        clientOrderId: 'c-1',
        side: 'sell',
        type: 'limit',
        timeInForce: 'GTC',
        price: 65_000,
        quantity: 3,
        postOnly: true,
      },
      { kind: 'cancel', userId: 42, symbol: 'BTC-USD', orderId: ORDER.id },
      { kind: 'amend', userId: 42, symbol: 'BTC-USD', orderId: ORDER.id, quantity: 2 },
      { kind: 'amend', userId: 42, symbol: 'BTC-USD', orderId: ORDER.id, price: 64_999 },
    ];
    for (const command of commands) {
      const submitted = await client.submit(command);
      assert.deepEqual(submitted, {
        result: {
          order: ORDER,
          fills: [{ tradeId: 5, orderId: ORDER.id, price: 65_000, quantity: 1, maker: true }],
        },
        replayed: true,
      });
    }
    assert.deepEqual(engine.commands, commands);
  });

  test("a standby's answer sends any command on, and a leader answers it", async () => {
    let standbyAnswers = 2;
    engine.answer = () =>
      standbyAnswers-- > 0
        ? Promise.reject(
            new DomainError('unavailable', 'this engine process does not lead shard-0; retry', {
              dependency: NOT_LEADER_DEPENDENCY,
            }),
          )
        : Promise.resolve({ result: { order: ORDER, fills: [] }, replayed: false });
    const before = engine.commands.length;
    // A cancel is not retried on failure; a standby's answer is not a failure: nothing was done.
    const submitted = await client.submit({
      kind: 'cancel',
      userId: 42,
      symbol: 'BTC-USD',
      orderId: ORDER.id,
    });
    assert.equal(submitted.result.order.id, ORDER.id);
    assert.equal(engine.commands.length - before, 3);
    assert.equal(client.policy.state(), 'closed');
  });

  test("the engine's answers come back as the same domain errors and never trip the breaker", async () => {
    const answers = [
      'invalid_argument',
      'failed_precondition',
      'not_found',
      'resource_exhausted',
      'already_exists',
    ] as const;
    for (const code of answers) {
      engine.answer = () =>
        Promise.reject(new DomainError(code, `an answer: ${code}`, { field: 'quantity' }));
      await assert.rejects(
        client.submit({ kind: 'cancel', userId: 1, symbol: 'BTC-USD', orderId: 1 }),
        (error: unknown) => {
          assert.ok(error instanceof DomainError);
          assert.equal(error.code, code);
          assert.equal(error.message, `an answer: ${code}`);
          assert.equal(error.field, 'quantity');
          return true;
        },
      );
    }
    assert.equal(client.policy.state(), 'closed');
    const handled = await registry.getSingleMetricAsString('grpc_client_handled_total');
    for (const code of [
      'InvalidArgument',
      'FailedPrecondition',
      'NotFound',
      'ResourceExhausted',
      'AlreadyExists',
    ]) {
      assert.match(handled, new RegExp(`grpc_method="Submit".*grpc_code="${code}"\\} 1`));
    }
  });
});

test('an unreachable engine is UNAVAILABLE naming it, and the breaker opens after the threshold', async () => {
  const client = new GrpcOrderEngine({
    address: `127.0.0.1:${await freePort()}`,
    tls: undefined,
    timeoutMs: 500,
    breaker: { threshold: 2, halfOpenAfterMs: 60_000 },
    logger,
    registry: new Registry(),
  });
  const cancel: OrderCommand = { kind: 'cancel', userId: 1, symbol: 'BTC-USD', orderId: 1 };
  try {
    for (let i = 0; i < 2; i += 1) {
      await assert.rejects(client.submit(cancel), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.code, 'unavailable');
        assert.equal(error.dependency, 'engine');
        return true;
      });
    }
    assert.equal(client.policy.state(), 'open');
    await assert.rejects(client.submit(cancel), /engine is unavailable \(circuit open\)/);
  } finally {
    client.close();
  }
});
