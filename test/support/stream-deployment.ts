import assert from 'node:assert/strict';
import type { Metadata } from '@grpc/grpc-js';
import type { Side } from '../../src/gen/trading/v1/common_pb.js';
import { OrderService } from '../../src/gen/trading/v1/orders_pb.js';
import {
  dropRedisKeys,
  startTestApp,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestApp,
} from './app.js';
import { grpcClient, unary } from './grpc.js';
import { placeRequest } from './order-requests.js';
import { streamHead } from './stream-client.js';

/**
 * "Pods" sharing PostgreSQL and Redis as one deployment's do: the engine's (ROLE=all, POD_NAME
 * engine) and stream pods (ROLE=stream) with the names given, in this process.
 */
export interface StreamDeployment<Pods extends readonly TestApp[] = readonly TestApp[]> {
  readonly engine: TestApp;
  /** The stream pods, in the order named. */
  readonly pods: Pods;
  /** Places a limit order through the engine's OrderService; refused, the test fails. */
  place(auth: Metadata, side: Side, price: bigint, quantity?: bigint): Promise<void>;
  /** The last seq the engine gave `stream`: where every subscriber must end up. */
  head(stream: string): Promise<bigint>;
  /** Shuts the stream pods down (once, if a test already did), then the engine. */
  stop(): Promise<void>;
}

export async function startStreamDeployment<const Names extends readonly string[]>(
  podNames: Names,
): Promise<StreamDeployment<{ readonly [K in keyof Names]: TestApp }>> {
  const engine = await startTestApp({ REDIS_URL: TEST_REDIS_URL, POD_NAME: 'engine' });
  const schema = engine.config.postgres.schema ?? '';
  const pods: TestApp[] = [];
  for (const name of podNames) {
    pods.push(
      await startTestApp({
        REDIS_URL: TEST_REDIS_URL,
        ROLE: 'stream',
        PG_SCHEMA: schema,
        REDIS_KEY_PREFIX: engine.config.redis.keyPrefix,
        POD_NAME: name,
      }),
    );
  }
  const orders = grpcClient(engine.grpcAddress, OrderService);
  let placed = 0;
  return {
    engine,
    pods: pods as unknown as { readonly [K in keyof Names]: TestApp },
    place: async (auth, side, price, quantity = 1n) => {
      const { error } = await unary(
        orders,
        'placeOrder',
        placeRequest(`o${++placed}`, { side, price, quantity }),
        auth,
      );
      assert.equal(error, null);
    },
    head: (stream) => streamHead(TEST_DATABASE_URL, schema, stream),
    stop: async () => {
      orders.close();
      for (const pod of [...pods].reverse()) await pod.shutdown.run('test finished');
      await engine.stop();
      await dropRedisKeys(engine.config.redis.keyPrefix);
    },
  };
}
