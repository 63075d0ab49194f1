import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { createContextValues, type ServiceImpl } from '@connectrpc/connect';
import {
  type Metadata,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { DomainError } from '../../domain/errors.js';
import {
  assertWellFormed,
  type MalformedRequest,
  type Message,
} from '../../shared/grpc/service-definition.js';
import type { Logger } from '../../telemetry/index.js';
import { clientIpKey } from '../rpc/call-context.js';
import { clientAddressOfCall, type ClientAddressOf } from './client-address.js';
import { admitCall, type CallGuard } from '../rpc/call-guard.js';
import { SHUTTING_DOWN } from '../rpc/rpc-status.js';
import { GrpcHandlerContext } from './handler-context.js';
import { annotateCall, callContextFor } from './observability.js';
import { context as otelContext } from '@opentelemetry/api';
import { toGrpcStatus } from './status.js';

/**
 * Serves a Connect-style service implementation (`ServiceImpl`) over @grpc/grpc-js, so the
 * same handlers answer native gRPC here and gRPC-Web/Connect on the HTTP port
 * (connect-routes.ts). Methods missing from `impl` answer UNIMPLEMENTED.
 */

export interface AdapterOptions extends CallGuard {
  readonly logger: Logger;
  /** The client's address from the peer's and its `x-forwarded-for`; unset: the peer's. */
  readonly clientAddress?: ClientAddressOf;
  /** Aborted when the server shuts down, so long-lived handlers can stop. */
  readonly shutdownSignal?: AbortSignal;
}

export function grpcServiceImplementation<S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: AdapterOptions,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  const byName = impl as Partial<Record<string, unknown>>;
  for (const method of service.methods) {
    const fn = byName[method.localName];
    const implementation =
      typeof fn === 'function'
        ? (fn as (...args: never[]) => unknown)
        : unimplemented(service, method);
    handlers[method.localName] = adapt(service, method, implementation, options);
  }
  return handlers;
}

function adapt(
  service: DescService,
  method: DescMethod,
  fn: (...args: never[]) => unknown,
  options: AdapterOptions,
): UntypedHandleCall {
  switch (method.methodKind) {
    case 'unary':
      return (call: ServerUnaryCall<Message, Message>, callback: sendUnaryData<Message>) => {
        const unary = fn as unknown as (req: Message, ctx: GrpcHandlerContext) => Promise<Message>;
        let context: GrpcHandlerContext | undefined;
        inCallContext(call, () => handlerContext(service, method, call, options))
          .then((ctx) => {
            context = ctx;
            return unary(call.request, ctx);
          })
          .then(
            (response) => {
              callback(null, response, context?.trailers());
            },
            (error: unknown) => {
              callback(serviceError(error, method, options.logger));
            },
          )
          .finally(() => {
            context?.release();
          });
      };
    case 'server_streaming':
      return (call: ServerWritableStream<Message, Message>) => {
        const stream = fn as unknown as (
          req: Message,
          ctx: GrpcHandlerContext,
        ) => AsyncIterable<Message>;
        inCallContext(call, () => handlerContext(service, method, call, options)).then(
          (context) => pump(call, stream(call.request, context), context, method, options.logger),
          (error: unknown) => {
            call.emit('error', serviceError(error, method, options.logger));
          },
        );
      };
    case 'bidi_streaming':
      return (call: ServerDuplexStream<Message, Message>) => {
        const stream = fn as unknown as (
          requests: AsyncIterable<Message>,
          ctx: GrpcHandlerContext,
        ) => AsyncIterable<Message>;
        inCallContext(call, () => handlerContext(service, method, call, options)).then(
          (context) =>
            pump(
              call,
              stream(requestsOf(call, context.signal), context),
              context,
              method,
              options.logger,
              true,
            ),
          (error: unknown) => {
            call.emit('error', serviceError(error, method, options.logger));
          },
        );
      };
    case 'client_streaming':
      // The contract has none; add it here when a service needs one.
      throw new Error(`${service.typeName}.${method.name}: ${method.methodKind} is not supported`);
  }
}

/**
 * The request messages of a streaming call. A message that cannot be decoded ends the stream
 * with INVALID_ARGUMENT (only this call: the connection and its other calls carry on). The
 * iterator must not destroy the call when reading ends (a Readable's default iterator does):
 * a client that half-closes still waits for the answers to what it sent; hence
 * `iterator({ destroyOnReturn: false })` (marked experimental in Node 20, unchanged since 16.3;
 * order-entry.test.ts half-closes before reading its answers). Cancellation, the deadline or
 * server shutdown (`signal`) end the reading.
 *
 * Each read waits for the next message or the signal, whichever comes first, without
 * `Promise.race` against one promise for the signal: every race leaves a reaction on that
 * promise, which lives as long as the call and so kept every message read (a stream open for
 * hours held all it had ever received).
 */
async function* requestsOf(
  call: ServerDuplexStream<Message, Message>,
  signal: AbortSignal,
): AsyncGenerator<Message, void, undefined> {
  const reading = call.iterator({ destroyOnReturn: false }) as AsyncIterator<
    Message | MalformedRequest
  >;
  const ended: IteratorResult<never> = { done: true, value: undefined };
  /** Settles the read in progress, if any, when the signal aborts. */
  let interrupt: ((result: IteratorResult<never>) => void) | undefined;
  const abort = () => interrupt?.(ended);
  signal.addEventListener('abort', abort, { once: true });
  try {
    while (!signal.aborted) {
      const next = await new Promise<IteratorResult<Message | MalformedRequest>>(
        (resolve, reject) => {
          interrupt = resolve;
          reading.next().then(resolve, reject);
        },
      );
      interrupt = undefined;
      if (next.done === true) return;
      assertWellFormed(next.value);
      yield next.value as Message;
    }
  } finally {
    signal.removeEventListener('abort', abort);
    reading.return?.().catch(() => undefined); // not awaited: a read may be pending
  }
}

/** A call whose answer is a stream of messages. */
type StreamingCall = ServerWritableStream<Message, Message> | ServerDuplexStream<Message, Message>;

/**
 * Writes a streaming call's answers. It stops when nobody reads any more (cancelled, past the
 * deadline). On server shutdown a server stream stops at once; an answer stream of a
 * bidirectional call (`answersEverything`) goes on until its handler is done, since its handler
 * stops reading requests then, and every request already read gets its answer. Either way the
 * call then ends with UNAVAILABLE, so the client reconnects to another instance.
 */
async function pump(
  call: StreamingCall,
  messages: AsyncIterable<Message>,
  context: GrpcHandlerContext,
  method: DescMethod,
  logger: Logger,
  answersEverything = false,
): Promise<void> {
  const gone = () => context.cancelled || (context.signal.aborted && !context.shuttingDown);
  const stop = () => gone() || (context.shuttingDown && !answersEverything);
  try {
    for await (const message of messages) {
      if (stop()) break;
      // Respect backpressure: a slow client must not make us buffer without bound.
      if (!call.write(message)) await waitForDrain(call, context.signal);
    }
    if (gone()) return;
    if (context.shuttingDown) {
      call.emit('error', serviceError(SHUTTING_DOWN, method, logger));
    } else {
      call.end(context.trailers());
    }
  } catch (error) {
    if (!gone()) call.emit('error', serviceError(error, method, logger));
  } finally {
    context.release();
  }
}

function waitForDrain(call: StreamingCall, signal: AbortSignal) {
  return new Promise<void>((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `fn` in the call's span context, so the handler's spans and logs join its trace. */
function inCallContext<T>(call: { metadata: Metadata }, fn: () => T): T {
  const callContext = callContextFor(call.metadata);
  return callContext === undefined ? fn() : otelContext.with(callContext, fn);
}

/** Authenticates the call (unless public) and builds the context its handler sees. */
async function handlerContext(
  service: DescService,
  method: DescMethod,
  call: ServerUnaryCall<Message, Message> | StreamingCall,
  options: AdapterOptions,
): Promise<GrpcHandlerContext> {
  const values = createContextValues();
  values.set(
    clientIpKey,
    clientAddressOfCall(call.getPeer(), call.metadata, options.clientAddress ?? ((peer) => peer)),
  );
  const [authorization] = call.metadata.get('authorization');
  const principal = await admitCall(
    options,
    method,
    typeof authorization === 'string' ? authorization : undefined,
    values,
  );
  if (principal !== undefined) annotateCall(call.metadata, { userId: principal.userId });
  if ('request' in call) assertWellFormed(call.request);
  return new GrpcHandlerContext({
    service,
    method,
    call,
    values,
    shutdownSignal: options.shutdownSignal,
  });
}

function serviceError(error: unknown, method: DescMethod, logger: Logger) {
  const { code, details, metadata, unexpected } = toGrpcStatus(error);
  // The interceptor logs every call's code; only a bug deserves its stack in the log.
  if (unexpected) {
    logger.error({ err: error, grpc_method: method.name }, 'grpc handler failed unexpectedly');
  }
  return Object.assign(new Error(details), { code, details, metadata });
}

/** Missing methods still authenticate and rate-limit: an anonymous caller learns nothing. */
function unimplemented(service: DescService, method: DescMethod): (...args: never[]) => unknown {
  const details = `${service.typeName}/${method.name} is not implemented yet`;
  if (method.methodKind === 'server_streaming') {
    // A stream that fails on its first step, before yielding anything.
    return (): AsyncIterable<never> => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new DomainError('unimplemented', details)),
      }),
    });
  }
  return () => Promise.reject(new DomainError('unimplemented', details));
}
