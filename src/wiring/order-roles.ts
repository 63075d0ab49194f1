import type { CertificateFiles } from '../shared/tls/certificate-files.js';
import type { ServiceImpl } from '@connectrpc/connect';
import type { Config } from '../config/index.js';
import { systemClock } from '../domain/clock.js';
import type { OrderDesk } from '../domain/orders/order-desk.js';
import type { EngineService } from '../gen/trading/internal/v1/engine_pb.js';
import type { Readiness } from '../lifecycle/readiness.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import { GrpcOrderEngine } from '../adapters/engine/grpc-order-engine.js';
import type { Logger, Registry } from '../telemetry/index.js';
import { engineRpc } from '../transport/rpc/engine.rpc.js';
import type { DataLayer } from './data-layer.js';
import {
  createOrderApi,
  createOrderEngine,
  createOrders,
  DEFAULT_ORDERS_SETTINGS,
  type OrderApi,
  type OrdersDeps,
  type OrdersSettings,
} from './orders.js';

/**
 * Where the order flow runs, by role:
 * - `all`: api and engine halves in this process, joined by the in-process engine port;
 * - `api`: the api half, calling the engine over internal gRPC (timeout, breaker, retries);
 * - `engine`: the engine half (shards with leader election, outbox relay), serving
 *   `trading.internal.v1.EngineService`;
 * - `stream`: none of it.
 */
export interface OrderRoles {
  /** OrderService and AccountService handlers (api, all). */
  readonly api: OrderApi | undefined;
  /** EngineService handler (engine). */
  readonly engineRpc: ServiceImpl<typeof EngineService> | undefined;
  /** The use cases with the shards in this process (all): what the market simulator drives. */
  readonly local: OrderDesk | undefined;
  start(): Promise<void>;
  /** Before the data layer's steps: shards commit what is queued while the pool is open. */
  readonly closeSteps: readonly ShutdownStep[];
}

interface Deps {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly readiness: Readiness;
  /** The process's TLS files: the api presents them to the engine (mTLS). */
  readonly tls?: CertificateFiles | undefined;
}

/**
 * Embedded PGlite runs one transaction at a time: shards neither overlap batches there nor
 * pipeline their statements.
 */
export const ordersSettings = (embedded: boolean): OrdersSettings =>
  embedded
    ? {
        ...DEFAULT_ORDERS_SETTINGS,
        batching: { ...DEFAULT_ORDERS_SETTINGS.batching, connections: 1, pipeline: false },
      }
    : DEFAULT_ORDERS_SETTINGS;

export function wireOrderRoles(config: Config, data: DataLayer, deps: Deps): OrderRoles {
  const { logger, registry, readiness } = deps;
  const settings = ordersSettings(data.embedded);
  const ordersDeps: OrdersDeps = {
    postgres: data.postgres,
    quotas: data.quotas,
    streamLog: data.streamLog,
    logger,
    registry,
    clock: systemClock,
    // On embedded PGlite there is one process and no session lock to hold: leadership is local.
    ...(data.embedded
      ? {}
      : {
          leadership: {
            pollIntervalMs: config.engine.leaderPollMs,
            leaseMs: config.engine.leaderLeaseMs,
            holder: config.podName,
          },
        }),
  };
  const none = { api: undefined, engineRpc: undefined, local: undefined };

  switch (config.role) {
    case 'all': {
      const orders = createOrders(settings, ordersDeps);
      return {
        ...none,
        api: orders,
        local: orders.orders,
        start: () => orders.start(),
        closeSteps: orders.closeSteps,
      };
    }
    case 'engine': {
      const engine = createOrderEngine(settings, ordersDeps);
      // Reported, not failing: a standby is a healthy pod (rollouts and disruption budgets
      // need it ready); api pods find the leader themselves (see GrpcOrderEngine).
      readiness.register(
        'engine-leader',
        () =>
          engine.leading() ? { ok: true } : { ok: false, detail: 'standing by for another leader' },
        { critical: false },
      );
      return {
        ...none,
        engineRpc: engineRpc(engine.engine),
        start: () => engine.start(),
        closeSteps: engine.closeSteps,
      };
    }
    case 'api': {
      const client = new GrpcOrderEngine({
        address: config.engine.address ?? '',
        tls: deps.tls,
        timeoutMs: config.engine.timeoutMs,
        retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 500 },
        breaker: { threshold: 5, halfOpenAfterMs: 5_000 },
        logger,
        registry,
      });
      readiness.register(
        'engine',
        () =>
          client.policy.state() === 'open' ? { ok: false, detail: 'circuit open' } : { ok: true },
        { critical: false },
      );
      return {
        ...none,
        api: createOrderApi(settings, { ...ordersDeps, engine: client }),
        start: () => Promise.resolve(),
        closeSteps: [
          {
            name: 'engine client',
            run: () => {
              client.close();
              return Promise.resolve();
            },
          },
        ],
      };
    }
    case 'stream':
      return { ...none, start: () => Promise.resolve(), closeSteps: [] };
  }
}
