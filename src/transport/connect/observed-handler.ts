import { Code, createContextValues } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerRequest } from '@connectrpc/connect/protocol';
import { codeFromHttpStatus, codeFromString } from '@connectrpc/connect/protocol-connect';
import {
  context as otelContext,
  propagation,
  trace,
  type Context,
  type TextMapGetter,
} from '@opentelemetry/api';
import type { Logger } from '../../telemetry/index.js';
import { labelsOf, observeCall, type RpcServerMetrics } from '../rpc/call-observer.js';
import { callStateKey, transportOf, type CallState } from './call-state.js';
import { guardedBody, uncompressedEnvelopes } from './request-body-guard.js';

/**
 * Wraps one of Connect's protocol handlers so that every call on the HTTP port is observed
 * like a native gRPC call (call-observer.ts) from its first byte to its last, including those
 * Connect refuses before any interceptor runs (a body that does not decode, a wrong content
 * type), and so that its body is checked (request-body-guard.ts).
 */

export interface ObservedHandlerOptions {
  readonly metrics: RpcServerMetrics;
  readonly logger: Logger;
  readonly readMaxBytes: number;
}

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

export function observedHandler(
  handler: UniversalHandler,
  options: ObservedHandlerOptions,
  peerOf: (request: UniversalServerRequest) => string,
): UniversalHandler {
  const { method } = handler;
  const labels = labelsOf(method);
  const singleMessage = method.methodKind === 'unary' || method.methodKind === 'server_streaming';
  const observed = async (request: UniversalServerRequest) => {
    const contentType = request.header.get('content-type');
    const transport = transportOf(contentType);
    const observation = observeCall({
      metrics: options.metrics,
      logger: options.logger,
      method: labels,
      transport,
      peer: peerOf(request),
      parent: parentContext(request.header),
    });
    const state: CallState = { transport, observation };
    const contextValues = request.contextValues ?? createContextValues();
    contextValues.set(callStateKey, state);
    let body = request.body;
    const enveloped = transport !== 'connect' || method.methodKind !== 'unary';
    if (request.method === 'POST' && isBytes(body)) {
      const encodingHeader = transport === 'connect' ? 'connect-content-encoding' : 'grpc-encoding';
      if (enveloped && !namesEncoding(request.header.get(encodingHeader))) {
        body = uncompressedEnvelopes(body, encodingHeader);
      }
      if (singleMessage) {
        body = guardedBody(
          body,
          method,
          {
            enveloped,
            binary: !(contentType ?? '').includes('json'),
            compressed: request.header.has('content-encoding'),
          },
          options.readMaxBytes,
        );
      }
    }
    try {
      const response = await otelContext.with(observation.context, () =>
        handler({
          ...request,
          // Connect answers a bidirectional call over HTTP/1.1 with a bare HTTP 505; let it
          // reach the interceptor instead, which says where the method is served.
          httpVersion: method.methodKind === 'bidi_streaming' ? '2.0' : request.httpVersion,
          contextValues,
          body,
        }),
      );
      const finish = (chunk: Uint8Array | undefined, failed: boolean) => {
        const outcome = state.outcome ?? {
          code: failed ? Code.Canceled : codeOf(response.status, response.trailer, chunk),
        };
        observation.finish(outcome.code, outcome.details, outcome.planned);
      };
      return { ...response, body: watched(response.body, finish) };
    } catch (error) {
      observation.finish(Code.Internal, error instanceof Error ? error.message : String(error));
      throw error;
    }
  };
  return Object.assign(observed, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/** `identity` (or no header) names no encoding: a message flagged compressed has none. */
const namesEncoding = (value: string | null): boolean =>
  value !== null && value.trim() !== '' && value.trim().toLowerCase() !== 'identity';

const isBytes = (body: unknown): body is AsyncIterable<Uint8Array> =>
  typeof body === 'object' && body !== null && Symbol.asyncIterator in body;

/** The caller's trace: the HTTP server span when instrumented, else the request's headers. */
function parentContext(header: Headers): Context {
  const active = otelContext.active();
  return trace.getSpan(active) === undefined
    ? propagation.extract(active, header, headerGetter)
    : active;
}

/** Calls `finish` once the body has been written out (or abandoned), with its last chunk. */
async function* watched(
  body: AsyncIterable<Uint8Array> | undefined,
  finish: (last: Uint8Array | undefined, failed: boolean) => void,
): AsyncGenerator<Uint8Array> {
  let last: Uint8Array | undefined;
  let completed = false;
  try {
    if (body !== undefined) {
      for await (const chunk of body) {
        last = chunk;
        yield chunk;
      }
    }
    completed = true;
  } finally {
    finish(last, !completed);
  }
}

const latin1 = new TextDecoder('latin1');

/**
 * The status of an answer nobody recorded: one Connect gave before any interceptor ran. Read
 * from the gRPC trailers, the gRPC-Web trailer frame or Connect's error JSON (the last chunk),
 * else from the HTTP status.
 */
function codeOf(
  status: number,
  trailer: Headers | undefined,
  last: Uint8Array | undefined,
): number {
  const grpcStatus = trailer?.get('grpc-status');
  if (grpcStatus != null) return Number(grpcStatus);
  const text = last === undefined ? '' : latin1.decode(last.subarray(-2048));
  const grpcWeb = /grpc-status: ?(\d+)/.exec(text)?.[1];
  if (grpcWeb !== undefined) return Number(grpcWeb);
  const connect = /"code":"([a-z_]+)"/.exec(text)?.[1];
  if (connect !== undefined) return codeFromString(connect) ?? Code.Unknown;
  if (status === 200) return Code.Unknown;
  // 415 (no protocol for this content type) and 405 are the caller's mistakes.
  return status === 415 || status === 405 ? Code.InvalidArgument : codeFromHttpStatus(status);
}
