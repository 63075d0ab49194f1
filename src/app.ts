import type { Config, Role } from './config/index.js';
import { EngineService } from './gen/trading/internal/v1/engine_pb.js';
import { AccountService } from './gen/trading/v1/account_pb.js';
import { AuthService } from './gen/trading/v1/auth_pb.js';
import { MarketDataService } from './gen/trading/v1/market_data_pb.js';
import { OrderService } from './gen/trading/v1/orders_pb.js';
import { SessionService } from './gen/trading/v1/session_pb.js';
import { Readiness } from './lifecycle/readiness.js';
import { lingerForScrapeStep, ScrapeWatch } from './lifecycle/scrape-watch.js';
import { Shutdown, unhandledRejections, type ShutdownStep } from './lifecycle/shutdown.js';
import { shutdownTracing, type Logger, type Registry } from './telemetry/index.js';
import {
  registration,
  startGrpcServer,
  type ServiceRegistration,
} from './transport/grpc/server.js';
import { buildHttpServer } from './transport/http/server.js';
import { authRpc } from './transport/rpc/auth.rpc.js';
import type { Authentication } from './domain/auth/authentication.js';
import { createAuth, createTokenVerifier, perUserLimit } from './wiring/auth.js';
import { openDataLayer } from './wiring/data-layer.js';
import { openTls } from './wiring/tls.js';
import { ordersSettings, wireOrderRoles, type OrderRoles } from './wiring/order-roles.js';
import { DEFAULT_ORDERS_SETTINGS } from './wiring/orders.js';
import { createSimulator } from './wiring/simulator.js';
import { createStreams, type Streams } from './wiring/streams.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly registry: Registry;
}

export interface App {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly readiness: Readiness;
  readonly shutdown: Shutdown;
}

/** Which services each role serves; later issues fill in their implementations. */
function servicesFor(
  role: Role,
  auth: Authentication | undefined,
  orders: OrderRoles,
  streams: Streams | undefined,
): ServiceRegistration[] {
  const api = () => [
    registration(AuthService, auth === undefined ? {} : authRpc(auth)),
    registration(OrderService, orders.api?.orderRpc ?? {}),
    registration(AccountService, orders.api?.accountRpc ?? {}),
  ];
  const stream = [
    registration(MarketDataService, streams?.marketDataRpc ?? {}),
    registration(SessionService, streams?.sessionRpc ?? {}),
  ];
  switch (role) {
    case 'api':
      return api();
    case 'stream':
      return stream;
    case 'engine':
      return [registration(EngineService, orders.engineRpc ?? {})];
    case 'all':
      return [...api(), ...stream];
  }
}

/** A shutdown step for what closes synchronously. */
const closing = (name: string, target: { close(): void }): ShutdownStep => ({
  name,
  run: () => {
    target.close();
    return Promise.resolve();
  },
});

/** Wires and starts one process of the given role; `shutdown.run()` takes it down again. */
export async function startApp(config: Config, deps: AppDeps): Promise<App> {
  const { logger, registry } = deps;
  const readiness = new Readiness();
  // Exposed from the start (at 0) so dashboards and alerts have a series; main.ts counts into it.
  unhandledRejections(registry);
  const shutdown = new Shutdown({
    logger,
    registry,
    readiness,
    drainDelayMs: config.shutdown.drainDelayMs,
    timeoutMs: config.shutdown.timeoutMs,
  });

  const tls = await openTls(config, { logger, registry });
  const data = await openDataLayer(config, { logger, registry, readiness });
  // Sign-in (AuthService) is the api's. A stream pod only verifies the tokens the api issues: the
  // public key and the revocations, no password hasher or user tables. The engine serves
  // EngineService alone, to api pods over mTLS (INTERNAL_METHODS): no user token reaches it, so
  // it loads no key, polls no revocations and limits no user.
  const auth =
    config.role === 'api' || config.role === 'all'
      ? await createAuth(config, data, { logger, registry })
      : undefined;
  const tokens =
    config.role === 'stream'
      ? await createTokenVerifier(config, data, { logger, registry })
      : auth?.tokens;
  const orders = wireOrderRoles(config, data, { logger, registry, readiness, tls });
  await orders.start();
  const simulator =
    orders.local &&
    createSimulator(config, DEFAULT_ORDERS_SETTINGS, {
      orders: orders.local,
      postgres: data.postgres,
      logger,
      registry,
    });
  // First step: the bots stop placing before servers drain and shards commit what is queued.
  if (simulator !== undefined) shutdown.add(simulator.closeStep);
  simulator?.start();
  const streams =
    tokens !== undefined && (config.role === 'stream' || config.role === 'all')
      ? createStreams(config, ordersSettings(data.embedded), data, {
          logger,
          registry,
          verifyToken: (token) => tokens.authenticateExpiring(token),
          revocations: tokens,
        })
      : undefined;
  const userCalls = tokens && {
    authenticate: (token: string) => tokens.authenticate(token),
    limitCall: perUserLimit(config, tokens, data, { logger, registry }),
  };
  const registrations = servicesFor(config.role, auth, orders, streams);
  const grpc = await startGrpcServer(
    {
      ...config.grpc,
      logger,
      registry,
      readiness,
      // Only the engine's listener is internal: it takes calls from api pods alone (mTLS).
      tls: tls && {
        files: tls,
        requireClientCert: config.role === 'engine' && tls.files.caFile !== undefined,
      },
      ...userCalls,
      trustedProxies: config.trustedProxies,
    },
    registrations,
  );
  const scrapes = new ScrapeWatch();
  const http = await buildHttpServer({
    ...config.http,
    logger,
    registry,
    readiness,
    scrapes,
    tls,
    tracing: config.telemetry.enabled,
    ...(userCalls === undefined ? {} : { authenticate: userCalls.authenticate }),
    trustedProxies: config.trustedProxies,
    // The engine's internal service stays on the gRPC port (mTLS, NetworkPolicy).
    ...(userCalls === undefined
      ? {}
      : {
          rpc: {
            registrations,
            limitCall: userCalls.limitCall,
            readMaxBytes: config.http.maxRequestBytes,
          },
        }),
    ...(streams === undefined ? {} : { websocket: streams.websocket }),
  });
  await http.listen({ host: config.http.host, port: config.http.port });
  const address = http.server.address();
  const httpPort =
    typeof address === 'object' && address !== null ? address.port : config.http.port;

  // Streams get their Reconnect and end, spread over the window, before the servers close.
  if (streams !== undefined) shutdown.add(streams.drainStep);
  // The drain's duration is observed after the last regular scrape: stay up (unready) until
  // Prometheus has read it, or for at most the linger.
  if (streams !== undefined && config.streams.drainLingerMs > 0) {
    shutdown.add(lingerForScrapeStep({ scrapes, maxMs: config.streams.drainLingerMs, logger }));
  }
  shutdown.add({
    name: 'servers',
    // In-flight calls and requests finish; new ones are refused.
    run: async () => {
      await Promise.all([grpc.drain(), http.close()]);
    },
    force: () => {
      grpc.forceClose();
    },
  });
  if (streams !== undefined) shutdown.add(streams.closeStep);
  // Shards commit what is queued and the relay publishes, while the pool is still open.
  for (const step of orders.closeSteps) shutdown.add(step);
  if (tokens !== undefined) shutdown.add(closing('revocations', tokens));
  for (const step of data.closeSteps) shutdown.add(step);
  if (tls !== undefined) shutdown.add(closing('tls files', tls));
  shutdown.add({
    name: 'readiness',
    run: () => {
      readiness.stop();
      return Promise.resolve();
    },
  });
  shutdown.add({ name: 'telemetry', run: shutdownTracing });

  readiness.watch(config.readinessIntervalMs);
  await readiness.evaluate();
  const { telemetry } = config;
  logger.info(
    {
      http_port: httpPort,
      grpc_port: grpc.port,
      // Which spans are kept: the first thing to check when traces seem to be missing.
      traces_sampler: telemetry.enabled ? telemetry.sampler.name : 'off',
      traces_sampler_ratio: telemetry.sampler.ratio,
      // Whose X-Forwarded-For is believed: what to check when per-address limits act oddly.
      trusted_proxies: config.trustedProxies,
    },
    'app started',
  );
  return { httpPort, grpcPort: grpc.port, readiness, shutdown };
}
