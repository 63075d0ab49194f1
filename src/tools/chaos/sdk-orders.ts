import { Code, ConnectError, type Transport } from '@connectrpc/connect';
import { Metadata, status } from '@grpc/grpc-js';
import {
  connectTransport,
  EnhancedConnectionManager,
  grpcWebTransport,
} from '../../client/index.js';
import type { CallFailure, CallResult } from './grpc-calls.js';
import type { OrderGateway } from './trader.js';

/** Connect's codes as grpc-js names them: the same numbers, spelled out so a change shows. */
const GRPC_STATUS: Record<Code, status> = {
  [Code.Canceled]: status.CANCELLED,
  [Code.Unknown]: status.UNKNOWN,
  [Code.InvalidArgument]: status.INVALID_ARGUMENT,
  [Code.DeadlineExceeded]: status.DEADLINE_EXCEEDED,
  [Code.NotFound]: status.NOT_FOUND,
  [Code.AlreadyExists]: status.ALREADY_EXISTS,
  [Code.PermissionDenied]: status.PERMISSION_DENIED,
  [Code.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [Code.FailedPrecondition]: status.FAILED_PRECONDITION,
  [Code.Aborted]: status.ABORTED,
  [Code.OutOfRange]: status.OUT_OF_RANGE,
  [Code.Unimplemented]: status.UNIMPLEMENTED,
  [Code.Internal]: status.INTERNAL,
  [Code.Unavailable]: status.UNAVAILABLE,
  [Code.DataLoss]: status.DATA_LOSS,
  [Code.Unauthenticated]: status.UNAUTHENTICATED,
};

// grpc-js refuses other keys; binary values would need decoding and the trader reads none.
const TEXT_KEY = /^[0-9a-z_.-]+$/;

/**
 * What an SDK call's failure says, as the trader judges a gRPC one: the code, the message, and
 * the trailers (`retry-after-ms` tells a rate limit from a quota). A fetch that failed (a
 * killed pod) or timed out becomes the ConnectError Connect would throw for it.
 */
export function callFailure(error: unknown): CallFailure {
  const connect = ConnectError.from(error);
  const metadata = new Metadata();
  connect.metadata.forEach((value, key) => {
    if (TEXT_KEY.test(key) && !key.endsWith('-bin')) metadata.add(key, value);
  });
  return { code: GRPC_STATUS[connect.code], details: connect.rawMessage, metadata };
}

async function settle<T>(call: Promise<T>): Promise<CallResult<T, CallFailure>> {
  try {
    return { ok: true, response: await call };
  } catch (error) {
    return { ok: false, error: callFailure(error) };
  }
}

/**
 * Unary calls sent to each transport in turn. It stands in for the one Service address a client
 * behind a load balancer would have: a retry goes to the other pod, so a dead pod costs a
 * trader one failed call, not a stall.
 */
export function alternating(transports: readonly Transport[]): Transport {
  if (transports.length === 0) throw new RangeError('at least one transport is needed');
  let next = 0;
  const pick = (): Transport => {
    const transport = transports[next % transports.length];
    next += 1;
    if (transport === undefined) throw new RangeError('no transport');
    return transport;
  };
  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      return pick().unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return pick().stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}

/**
 * A trader's client: the SDK's connection manager, signed in as the user, its unary calls
 * (auth, orders, token refreshes) over Connect to the api pods in turn. It streams nothing:
 * the runner's subscribers do.
 */
export async function sdkTraderClient(
  apiUrls: readonly string[],
  username: string,
  password: string,
): Promise<EnhancedConnectionManager> {
  const [first] = apiUrls;
  if (first === undefined) throw new RangeError('no api pod');
  const manager = new EnhancedConnectionManager({
    transports: [grpcWebTransport(first)],
    unary: alternating(apiUrls.map((url) => connectTransport(url))),
    symbols: [],
    environment: { storage: undefined },
  });
  await manager.signIn(username, password);
  return manager;
}

/** Orders through the SDK's `orders` client, each call given `timeoutMs`. */
export const sdkOrderGateway = (
  manager: EnhancedConnectionManager,
  timeoutMs = 5_000,
): OrderGateway => ({
  async place(request) {
    const result = await settle(manager.orders.placeOrder(request, { timeoutMs }));
    if (!result.ok) return result;
    const { order, replayed } = result.response;
    return order === undefined ? withoutOrder() : { ok: true, response: { order, replayed } };
  },
  async cancel(orderId) {
    const result = await settle(manager.orders.cancelOrder({ orderId }, { timeoutMs }));
    if (!result.ok) return result;
    const { order } = result.response;
    return order === undefined ? withoutOrder() : { ok: true, response: { order } };
  },
});

// An answer must name its order; without one, sending the same call again is safe.
const withoutOrder = (): CallResult<never, CallFailure> => ({
  ok: false,
  error: { code: status.INTERNAL, details: 'answer without its order', metadata: new Metadata() },
});
