import type { JsonValue } from '@bufbuild/protobuf';
import { Code, ConnectError, type ContextValues } from '@connectrpc/connect';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import * as protocolConnect from '@connectrpc/connect/protocol-connect';
import * as protocolGrpc from '@connectrpc/connect/protocol-grpc';
import * as protocolGrpcWeb from '@connectrpc/connect/protocol-grpc-web';
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import { context as otelContext, propagation, trace, type Context } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../telemetry/index.js';
import { callStateKey } from './call-state.js';

/**
 * Serves Connect's protocol handlers on Fastify routes, one route per method, as
 * @connectrpc/connect-fastify's plugin does, with two differences: a call that fails outside
 * its handler (a request Connect cannot read, a response that cannot be written) is logged
 * through pino in the call's trace, where the plugin writes it to stderr with console.error;
 * and the route settles once the response is written (see below).
 */
export function mountHandlers(
  scope: FastifyInstance,
  handlers: readonly UniversalHandler[],
  options: {
    readonly logger: Logger;
    readonly contextValues: (request: FastifyRequest) => ContextValues;
  },
): void {
  // Connect reads the bodies itself; Fastify's parsers (JSON included) stay out of its way.
  scope.addContentTypeParser(
    [
      protocolConnect.contentTypeUnaryJson,
      protocolConnect.contentTypeStreamJson,
      protocolGrpcWeb.contentTypeProto,
      protocolGrpcWeb.contentTypeJson,
      protocolGrpc.contentTypeProto,
      protocolGrpc.contentTypeJson,
    ],
    leaveBodyUnread,
  );
  for (const pattern of [
    protocolGrpc.contentTypeRegExp,
    protocolGrpcWeb.contentTypeRegExp,
    protocolConnect.contentTypeRegExp,
  ]) {
    scope.addContentTypeParser(pattern, leaveBodyUnread);
  }
  for (const handler of handlers) {
    scope.all(handler.requestPath, async (request, reply) => {
      const values = options.contextValues(request);
      try {
        await serve(handler, request, reply, values);
      } catch (error) {
        // The client went away: nobody is left to answer, and nothing failed here.
        if (ConnectError.from(error).code === Code.Aborted) return;
        otelContext.with(traceContext(request, values), () => {
          options.logger.error(
            {
              err: error,
              grpc_service: handler.service.typeName,
              grpc_method: handler.method.name,
            },
            'connect call failed outside its handler',
          );
        });
        // Once headers are out no status can follow: cut the response rather than leave it open.
        if (reply.raw.headersSent) reply.raw.destroy();
        else reply.raw.writeHead(500).end();
      }
    });
  }
}

async function serve(
  handler: UniversalHandler,
  request: FastifyRequest,
  reply: FastifyReply,
  values: ContextValues,
): Promise<void> {
  settleOnEnd(reply.raw);
  // Headers set on the reply (CORS, security headers) live there until reply.send, which is
  // not used here; copied first, so a failure's 500 carries them too.
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) reply.raw.setHeader(name, value);
  }
  // What a Fastify parser made of the body; the ones above leave Connect's formats unread.
  const parsed = request.body as JsonValue | undefined;
  const response = await handler(
    universalRequestFromNodeRequest(request.raw, reply.raw, parsed, values),
  );
  await universalResponseToNodeResponse(response, reply.raw);
}

/**
 * connect-node, once it has ended a response, waits for an 'end' event that a Node server
 * response never emits: without one the route never settles, a promise left pending per call
 * (and, where a route turns @fastify/otel's handler spans on, a span never ended). A response
 * emits 'finish' when it completes, but nothing once the client has gone (a cancelled gRPC
 * stream writes no more body, its status being trailers), so 'close' counts too; it may come
 * before connect-node listens, hence the check when it does.
 */
function settleOnEnd(raw: FastifyReply['raw']): void {
  let over = false;
  const end = () => {
    over = true;
    raw.emit('end');
  };
  raw.once('finish', end);
  raw.once('close', () => {
    over = true;
  });
  raw.on('newListener', (event) => {
    if (event === 'end' && over) process.nextTick(() => raw.emit('end'));
  });
}

/** The call's span once the call started; before that, the request's (or its caller's). */
function traceContext(request: FastifyRequest, values: ContextValues): Context {
  const call = values.get(callStateKey);
  if (call !== undefined) return call.observation.context;
  const active = otelContext.active();
  return trace.getSpan(active) === undefined
    ? propagation.extract(active, request.headers)
    : active;
}

function leaveBodyUnread(
  _request: FastifyRequest,
  _payload: unknown,
  done: (error: Error | null, body?: unknown) => void,
): void {
  done(null, undefined);
}
