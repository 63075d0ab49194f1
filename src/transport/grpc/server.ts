import { setMaxListeners } from 'node:events';
import type { DescService } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  Server,
  ServerCredentials,
  type ChannelOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Readiness } from '../../lifecycle/readiness.js';
import { grpcServiceDefinition } from '../../shared/grpc/service-definition.js';
import type { CertificateFiles, TlsMaterial } from '../../shared/tls/certificate-files.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import { healthService } from './health.js';
import { RpcServerMetrics } from '../rpc/call-observer.js';
import { initializeMetrics, observabilityInterceptor } from './observability.js';
import { reflectionService } from './reflection.js';
import { singleRequestInterceptor } from './single-request.js';
import { clientAddressOf } from './client-address.js';
import { guardTimeoutHeaders, timeoutInterceptor } from './timeout-guard.js';
import { grpcServiceImplementation, type AdapterOptions } from './service-adapter.js';

/**
 * How long a connection is held, so silent or forgotten ones do not pile up; `undefined`
 * means no limit. A plaintext connection that never sends the HTTP/2 preface already has a
 * session, so the idle limit and the keepalive pings close it.
 */
export interface ConnectionLimits {
  /** The server pings each connection this often; no answer within the timeout closes it. */
  readonly keepaliveTimeMs: number | undefined;
  readonly keepaliveTimeoutMs: number;
  /** A connection with no call in progress for this long gets GOAWAY. */
  readonly maxIdleMs: number | undefined;
  /** Any connection gets GOAWAY at this age, then its calls have the grace period to finish. */
  readonly maxAgeMs: number | undefined;
  readonly maxAgeGraceMs: number;
  /** A TLS connection must complete its handshake within this. */
  readonly tlsHandshakeTimeoutMs: number;
}

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  readonly tls: ServerTls | undefined;
  /** Verifies access tokens; see AdapterOptions. */
  readonly authenticate?: AdapterOptions['authenticate'];
  readonly limitCall?: AdapterOptions['limitCall'];
  /** Largest request accepted; larger ones fail with RESOURCE_EXHAUSTED before any handler runs. */
  readonly maxReceiveMessageBytes?: number;
  /** Unset: grpc-js's defaults, which hold any connection for ever. */
  readonly connections?: ConnectionLimits;
  /** Peers whose `x-forwarded-for` metadata names the client (client-address.ts); none unset. */
  readonly trustedProxies?: readonly string[];
}

export interface ServerTls {
  /** Served, and replaced on open listeners when the files rotate. */
  readonly files: CertificateFiles;
  /** mTLS: refuse a client without a certificate signed by the files' CA (internal listeners). */
  readonly requireClientCert: boolean;
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
  const metrics = new RpcServerMetrics(options.registry);
  const clientAddress = clientAddressOf(options.trustedProxies ?? []);
  const server = new Server({
    // The last one listed is the outermost: observability sees every answer, its own included.
    interceptors: [
      observabilityInterceptor(metrics, options.logger, clientAddress),
      singleRequestInterceptor,
      timeoutInterceptor,
    ],
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
    ...connectionOptions(options.connections),
  });
  const shutdown = new AbortController();
  // Each open streaming call listens for shutdown; hundreds at once are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  // Every service goes through here, so every method gets its zero-valued series.
  const target = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      server.addService(definition, implementation);
      initializeMetrics(metrics, definition);
    },
  };

  for (const { service, impl } of registrations) {
    target.addService(
      grpcServiceDefinition(service),
      grpcServiceImplementation(service, impl, {
        logger: options.logger,
        clientAddress,
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
      credentials(options.tls, options.connections?.tlsHandshakeTimeoutMs),
      (error, bound) => {
        if (error === null) resolve(bound);
        else reject(error);
      },
    );
  });
  guardTimeoutHeaders(server);
  options.logger.info(
    { port, tls: options.tls !== undefined, mtls: options.tls?.requireClientCert ?? false },
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

/** The grpc-js server options (grpc-js 1.14's names) that bound a connection's life. */
function connectionOptions(limits: ConnectionLimits | undefined): ChannelOptions {
  if (limits === undefined) return {};
  const options: ChannelOptions = { 'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs };
  if (limits.keepaliveTimeMs !== undefined) {
    options['grpc.keepalive_time_ms'] = limits.keepaliveTimeMs;
  }
  if (limits.maxIdleMs !== undefined) options['grpc.max_connection_idle_ms'] = limits.maxIdleMs;
  if (limits.maxAgeMs !== undefined) {
    options['grpc.max_connection_age_ms'] = limits.maxAgeMs;
    options['grpc.max_connection_age_grace_ms'] = limits.maxAgeGraceMs;
  }
  return options;
}

function credentials(
  tls: ServerTls | undefined,
  handshakeTimeoutMs: number | undefined,
): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const served = new ReloadableSslCredentials(
    sslCredentials(tls.files.current(), tls.requireClientCert),
    handshakeTimeoutMs,
  );
  tls.files.onChange((material) => {
    served.reload(sslCredentials(material, tls.requireClientCert));
  });
  tls.files.track('grpc');
  return served;
}

function sslCredentials(material: TlsMaterial, requireClientCert: boolean): ServerCredentials {
  return ServerCredentials.createSsl(
    requireClientCert ? (material.ca ?? null) : null,
    [{ cert_chain: material.cert, private_key: material.key }],
    requireClientCert,
  );
}

/**
 * TLS credentials that can be replaced on a bound server, and whose listener drops a
 * connection that has not finished its handshake in time. grpc-js hands new context options
 * to its HTTP/2 servers (`setSecureContext`): new connections get the new certificate, open
 * ones and their streams carry on. It has no handshake option; its TLS server takes Node's
 * `handshakeTimeout` from the credentials' server options, whose default holds a silent
 * connection for two minutes.
 */
class ReloadableSslCredentials extends ServerCredentials {
  constructor(ssl: ServerCredentials, handshakeTimeoutMs: number | undefined) {
    super(
      {
        ...ssl._getConstructorOptions(),
        ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: handshakeTimeoutMs }),
      },
      ssl._getSecureContextOptions() ?? undefined,
    );
  }

  reload(ssl: ServerCredentials): void {
    this.updateSecureContextOptions(ssl._getSecureContextOptions());
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
