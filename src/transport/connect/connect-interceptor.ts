import { Code, ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';
import { getAbortSignalReason } from '@connectrpc/connect/protocol';
import { context as otelContext } from '@opentelemetry/api';
import { boundedMessage, DomainError } from '../../domain/errors.js';
import type { Logger } from '../../telemetry/index.js';
import { admitCall, type CallGuard } from '../rpc/call-guard.js';
import { SHUTTING_DOWN, toRpcStatus } from '../rpc/rpc-status.js';
import { callStateKey, type CallState } from './call-state.js';
import { NO_REQUEST_MESSAGE, EXTRA_REQUEST_MESSAGE } from './request-body-guard.js';

/**
 * The Connect counterpart of the grpc-js service adapter: admits the call (call-guard.ts),
 * runs the handler in the call's span context, counts messages, and turns whatever the handler
 * threw into a ConnectError with the code, bounded message and metadata that native gRPC gives.
 */

export interface ConnectInterceptorOptions extends CallGuard {
  readonly logger: Logger;
  /** Aborted when the server shuts down: open streams then end with UNAVAILABLE. */
  readonly shutdownSignal: AbortSignal;
}

/** Bidirectional streams need HTTP/2 both ways, which browsers' Connect and gRPC-Web lack. */
const bidiRefusal = (method: string) =>
  new DomainError(
    'invalid_argument',
    `${method} is a bidirectional stream, served over native gRPC only (the gRPC port); ` +
      'over Connect and gRPC-Web send each command as its own unary call (PlaceOrder, CancelOrder, AmendOrder)',
  );

export function connectInterceptor(options: ConnectInterceptorOptions): Interceptor {
  const { logger, shutdownSignal } = options;
  return (next) => async (req) => {
    const state = req.contextValues.get(callStateKey);
    if (state === undefined) throw new ConnectError('call state missing', Code.Internal);
    const inCall = <T>(fn: () => T): T => otelContext.with(state.observation.context, fn);
    const fail = (error: unknown): ConnectError =>
      toConnectError(error, state, logger, req.method.name);
    try {
      if (req.method.methodKind === 'bidi_streaming' && state.transport !== 'grpc') {
        throw bidiRefusal(`${req.method.parent.typeName}/${req.method.name}`);
      }
      const principal = await admitCall(
        options,
        req.method,
        req.header.get('authorization') ?? undefined,
        req.contextValues,
      );
      if (principal !== undefined) state.observation.annotate({ userId: principal.userId });
      if (!req.stream) {
        state.observation.received();
        const response = await inCall(() => next(req));
        state.observation.sent();
        state.outcome = { code: 0 };
        return response;
      }
      const response = (await inCall(() =>
        next({ ...req, message: counted(req.message, state) }),
      )) as StreamResponse;
      return {
        ...response,
        message: answers(response.message, state, inCall, fail, {
          call: req.signal,
          shutdown: shutdownSignal,
        }),
      };
    } catch (error) {
      throw fail(error);
    }
  };
}

async function* counted<T>(messages: AsyncIterable<T>, state: CallState): AsyncGenerator<T> {
  for await (const message of messages) {
    state.observation.received();
    yield message;
  }
}

/** A stream's answers, counted; its end recorded, with UNAVAILABLE when the server shuts down. */
async function* answers<T>(
  messages: AsyncIterable<T>,
  state: CallState,
  inCall: <R>(fn: () => R) => R,
  fail: (error: unknown) => ConnectError,
  signals: { readonly call: AbortSignal; readonly shutdown: AbortSignal },
): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await inCall(() => iterator.next());
      if (next.done === true) break;
      state.observation.sent();
      yield next.value;
    }
  } catch (error) {
    throw fail(ended(signals) ?? error);
  }
  const reason = ended(signals);
  if (reason !== undefined) throw fail(reason);
  state.outcome = { code: 0 };
}

/** Why a stream stopped early: the server shutting down, or the client gone or out of time. */
function ended(signals: { readonly call: AbortSignal; readonly shutdown: AbortSignal }) {
  if (signals.shutdown.aborted) return SHUTTING_DOWN;
  if (signals.call.aborted)
    return ConnectError.from(getAbortSignalReason(signals.call), Code.Canceled);
  return undefined;
}

/**
 * The ConnectError a caller gets, recorded as the call's outcome. Connect's own protocol errors
 * about the request message count as the caller's: a missing or extra message, or one that does
 * not decode, is INVALID_ARGUMENT (Connect says UNIMPLEMENTED / INTERNAL).
 */
function toConnectError(
  error: unknown,
  state: CallState,
  logger: Logger,
  method: string,
): ConnectError {
  const status = toRpcStatus(callerFault(error));
  if (status.unexpected) {
    logger.error({ err: error, grpc_method: method }, 'grpc handler failed unexpectedly');
  }
  const planned = error === SHUTTING_DOWN;
  state.outcome = { code: status.code, details: status.message, planned };
  const metadata = new Headers();
  for (const [key, value] of status.metadata) metadata.set(key, value);
  return new ConnectError(status.message, status.code, metadata);
}

function callerFault(error: unknown): unknown {
  if (!(error instanceof ConnectError)) return error;
  const message = error.rawMessage;
  if (message.startsWith('protocol error: missing input message')) {
    return new ConnectError(NO_REQUEST_MESSAGE, Code.InvalidArgument);
  }
  if (message.startsWith('protocol error: received extra input message')) {
    return new ConnectError(EXTRA_REQUEST_MESSAGE, Code.InvalidArgument);
  }
  if (error.code === Code.Internal && message.startsWith('parse binary:')) {
    return new ConnectError(
      boundedMessage(`request is not a valid message: ${message}`),
      Code.InvalidArgument,
    );
  }
  return error;
}
