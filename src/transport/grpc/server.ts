import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { DescService } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Readiness } from '../../lifecycle/readiness.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import { healthService } from './health.js';
import { GrpcServerMetrics, observabilityInterceptor } from './observability.js';
import { reflectionService } from './reflection.js';
import { singleRequestInterceptor } from './single-request.js';
import {
  grpcServiceDefinition,
  grpcServiceImplementation,
  type AdapterOptions,
} from './service-adapter.js';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mTLS). */
  readonly caFile: string | undefined;
}

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly tls: TlsFiles | undefined;
  /** Verifies access tokens; see AdapterOptions. */
  readonly authenticate?: AdapterOptions['authenticate'];
  readonly limitCall?: AdapterOptions['limitCall'];
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED before any handler runs. */
  readonly maxReceiveMessageBytes?: number;
}

// A service registered with its Connect-style implementation; the types differ per service.
export interface ServiceRegistration<S extends DescService = DescService> {
  readonly service: S;
  readonly impl: Partial<ServiceImpl<S>>;
}

export const registration = <S extends DescService>(
  service: S,
  impl: Partial<ServiceImpl<S>>,
): ServiceRegistration => ({ service, impl });

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting calls and resolves when in-flight calls have finished. */
  drain(): Promise<void>;
  /** Cancels whatever is still running. */
  forceClose(): void;
}

export async function startGrpcServer(
  options: GrpcServerOptions,
  registrations: readonly ServiceRegistration[],
): Promise<GrpcServer> {
  const metrics = new GrpcServerMetrics(options.registry);
  const server = new Server({
    // The last one listed is the outermost: observability sees every answer, its own included.
    interceptors: [observabilityInterceptor(metrics, options.logger), singleRequestInterceptor],
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const shutdown = new AbortController();
  // Each open streaming call listens for shutdown; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  // Every service goes through here, so every method gets its zero-valued series.
  const target = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      server.addService(definition, implementation);
      metrics.initialize(definition);
    },
  };

  for (const { service, impl } of registrations) {
    target.addService(
      grpcServiceDefinition(service),
      grpcServiceImplementation(service, impl, {
        logger: options.logger,
        shutdownSignal: shutdown.signal,
        ...(options.authenticate === undefined ? {} : { authenticate: options.authenticate }),
        ...(options.limitCall === undefined ? {} : { limitCall: options.limitCall }),
      }),
    );
  }
  const services = registrations.map((r) => r.service);
  healthService(
    options.readiness,
    services.map((s) => s.typeName),
  ).addToServer(target);
  reflectionService(services).addToServer(target);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${options.host}:${options.port}`,
      credentials(options.tls),
      (error, bound) => {
        if (error === null) resolve(bound);
        else reject(error);
      },
    );
  });
  options.logger.info(
    { port, tls: options.tls !== undefined, mtls: options.tls?.caFile !== undefined },
    'grpc server listening',
  );

  return {
    port,
    drain: () =>
      new Promise<void>((resolve, reject) => {
        shutdown.abort(new Error('server shutting down'));
        server.tryShutdown((error) => {
          if (error === undefined) resolve();
          else reject(error);
        });
      }),
    forceClose: () => {
      server.forceShutdown();
    },
  };
}

function credentials(tls: TlsFiles | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.caFile === undefined ? null : readFileSync(tls.caFile),
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    tls.caFile !== undefined,
  );
}
