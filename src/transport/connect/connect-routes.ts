import { createContextValues } from '@connectrpc/connect';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { setMaxListeners } from 'node:events';
import type { Logger, Registry } from '../../telemetry/index.js';
import type { ServiceRegistration } from '../grpc/server.js';
import { clientIpKey } from '../rpc/call-context.js';
import type { CallGuard } from '../rpc/call-guard.js';
import { labelsOf, RPC_TRANSPORTS, RpcServerMetrics } from '../rpc/call-observer.js';
import { connectInterceptor } from './connect-interceptor.js';
import { observedHandler } from './observed-handler.js';

/**
 * The services of the gRPC port, on the HTTP port too: Connect, gRPC-Web and gRPC (HTTP/2)
 * through @connectrpc/connect-fastify, calling the same handlers with the same admission,
 * errors and telemetry as grpc-js.
 */

export interface ConnectRoutesOptions extends CallGuard {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly registrations: readonly ServiceRegistration[];
  /** Largest request body accepted; larger ones fail with RESOURCE_EXHAUSTED. */
  readonly readMaxBytes: number;
}

export async function registerConnectRoutes(
  app: FastifyInstance,
  options: ConnectRoutesOptions,
): Promise<void> {
  const metrics = new RpcServerMetrics(options.registry);
  const shutdown = new AbortController();
  // Each open stream listens for shutdown; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  // Streams end (UNAVAILABLE, reconnect elsewhere) before the server waits for connections.
  app.addHook('preClose', (done) => {
    shutdown.abort(new Error('server shutting down'));
    done();
  });
  const observe = { metrics, logger: options.logger, readMaxBytes: options.readMaxBytes };
  // The package does not export the type of its options.
  const connect: Parameters<typeof fastifyConnectPlugin>[1] = {
    readMaxBytes: options.readMaxBytes,
    shutdownSignal: shutdown.signal,
    interceptors: [
      connectInterceptor({
        logger: options.logger,
        shutdownSignal: shutdown.signal,
        ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
        ...(options.limitCall === undefined ? {} : { limitCall: options.limitCall }),
      }),
    ],
    contextValues: (request) => createContextValues().set(clientIpKey, clientAddress(request.ip)),
    routes: (router) => {
      for (const { service, impl } of options.registrations) {
        router.service(service, impl);
        for (const method of service.methods) {
          for (const transport of RPC_TRANSPORTS) metrics.initialize(labelsOf(method), transport);
        }
      }
      // The plugin mounts what `router.handlers` holds once this returns: each one observed.
      const handlers = router.handlers.map((handler) =>
        observedHandler(handler, observe, (request) =>
          String(request.contextValues?.get(clientIpKey)),
        ),
      );
      router.handlers.splice(0, router.handlers.length, ...handlers);
    },
  };
  // A scope of their own, so that `settleOnFinish` wraps the Connect routes only.
  await app.register(async (scope) => {
    scope.addHook('onRoute', settleOnFinish);
    await scope.register(fastifyConnectPlugin, connect);
  });
}

/**
 * connect-node writes a response and then waits for an 'end' event that a Node server response
 * never emits (it emits 'finish'), so connect-fastify's route handler would never settle: a
 * promise left pending per call, and a handler span around it (@fastify/otel's, where a route
 * turns `instrumentHandler` on) never ended nor exported, orphaning the call spans under it.
 * This lets the wait end.
 */
function settleOnFinish(route: RouteOptions): void {
  const { handler } = route;
  route.handler = function settledOnFinish(request, reply) {
    reply.raw.once('finish', () => reply.raw.emit('end'));
    return handler.call(this, request, reply);
  };
}

/** An IPv4 client of a dual-stack socket as plain IPv4, as grpc-js reports it. */
export const clientAddress = (address: string): string => address.replace(/^::ffff:/, '');
