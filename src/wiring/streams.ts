import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.js';
import { BookReplicas } from '../domain/streams/book-replicas.js';
import { StreamGateway } from '../domain/streams/stream-gateway.js';
import { streamMetrics } from '../domain/streams/stream.metrics.js';
import { DEFAULT_SUBSCRIPTION_LIMITS } from '../domain/streams/stream-subscription.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import { PostgresStreamSnapshots } from '../adapters/streams/stream-snapshots.postgres.js';
import type { Logger, Registry } from '../telemetry/index.js';
import { marketDataRpc } from '../transport/rpc/market-data.rpc.js';
import { sessionRpc, type RevocationWatch } from '../transport/rpc/session.rpc.js';
import type { DataLayer } from './data-layer.js';
import type { OrdersSettings } from './orders.js';

export interface Streams {
  readonly marketDataRpc: ReturnType<typeof marketDataRpc>;
  readonly sessionRpc: ReturnType<typeof sessionRpc>;
  /** Stops the book replicas' subscriptions. */
  readonly closeStep: ShutdownStep;
}

/** The stream gateway of ROLE=stream (and all): market data and private streams. */
export function createStreams(
  config: Config,
  settings: OrdersSettings,
  data: DataLayer,
  deps: {
    readonly logger: Logger;
    readonly registry: Registry;
    /** Ends private streams of a revoked session. */
    readonly revocations?: RevocationWatch;
  },
): Streams {
  const limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, maxReplay: config.streams.maxReplay };
  const snapshots = new PostgresStreamSnapshots(data.postgres);
  const replicas = new BookReplicas({
    log: data.streamLog,
    snapshots,
    limits,
    sleep: (ms) => sleep(ms),
    logger: deps.logger,
  });
  const gateway = new StreamGateway({
    log: data.streamLog,
    snapshots,
    replicas,
    sessions: data.sessions,
    limits,
    sendQueueMax: config.streams.sendQueueMax,
    sessionTtlSeconds: config.streams.sessionTtlSeconds,
    pod: config.podName,
    metrics: streamMetrics(deps.registry),
    logger: deps.logger,
    sleep: (ms) => sleep(ms),
    now: Date.now,
  });
  return {
    marketDataRpc: marketDataRpc({
      gateway,
      replicas,
      log: data.streamLog,
      symbols: new Set(settings.markets.map((market) => market.spec.symbol)),
      maxSubscriptions: config.streams.maxSubscriptions,
    }),
    sessionRpc: sessionRpc(gateway, deps.revocations),
    closeStep: {
      name: 'book replicas',
      run: () => {
        replicas.close();
        return Promise.resolve();
      },
    },
  };
}
