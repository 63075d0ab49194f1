import { createConnectRouter, createContextValues } from '@connectrpc/connect';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import { setMaxListeners } from 'node:events';
import type { Logger, Registry } from '../../telemetry/index.js';
import type { ServiceRegistration } from '../grpc/server.js';
import { clientIpKey } from '../rpc/call-context.js';
import type { CallGuard } from '../rpc/call-guard.js';
import { labelsOf, RPC_TRANSPORTS, RpcServerMetrics } from '../rpc/call-observer.js';
import { connectInterceptor } from './connect-interceptor.js';
import { mountHandlers } from './mount-handlers.js';
import { observedHandler } from './observed-handler.js';

/**
 * The services of the gRPC port, on the HTTP port too: Connect, gRPC-Web and gRPC (HTTP/2)
 * through Connect's router (mounted on Fastify by mount-handlers.ts), calling the same handlers
 * with the same admission, errors and telemetry as grpc-js.
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
  const router = createConnectRouter({
    readMaxBytes: options.readMaxBytes,
    shutdownSignal: shutdown.signal,
    acceptCompression: [compressionGzip, compressionBrotli],
    interceptors: [
      connectInterceptor({
        logger: options.logger,
        shutdownSignal: shutdown.signal,
        ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
        ...(options.limitCall === undefined ? {} : { limitCall: options.limitCall }),
      }),
    ],
  });
  for (const { service, impl } of options.registrations) {
    router.service(service, impl);
    for (const method of service.methods) {
      for (const transport of RPC_TRANSPORTS) metrics.initialize(labelsOf(method), transport);
    }
  }
  // Each handler observed from its first byte (observed-handler.ts).
  const handlers = router.handlers.map((handler) =>
    observedHandler(handler, observe, (request) => String(request.contextValues?.get(clientIpKey))),
  );
  // A scope of their own, so that the content type parsers apply to the Connect routes only.
  await app.register((scope) => {
    mountHandlers(scope, handlers, {
      logger: options.logger,
      contextValues: (request) => createContextValues().set(clientIpKey, clientAddress(request.ip)),
    });
    return Promise.resolve();
  });
}

/** An IPv4 client of a dual-stack socket as plain IPv4, as grpc-js reports it. */
export const clientAddress = (address: string): string => address.replace(/^::ffff:/, '');
