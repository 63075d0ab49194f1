import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/index.js';
import { BookReplicas } from '../domain/streams/book-replicas.js';
import type { VerifiedToken } from '../domain/auth/access-tokens.js';
import { addressKey } from '../domain/address-key.js';
import { DomainError } from '../domain/errors.js';
import { StreamDrain } from '../domain/streams/stream-drain.js';
import { ConnectionRegistry } from '../domain/streams/connection-registry.js';
import { StreamGateway } from '../domain/streams/stream-gateway.js';
import { streamMetrics } from '../domain/streams/stream.metrics.js';
import { MarketStreamsPerAddress } from '../domain/streams/market-streams-per-address.js';
import { DEFAULT_SUBSCRIPTION_LIMITS } from '../domain/streams/stream-subscription.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import { GuardedRateLimiter, rateLimitRejections } from '../adapters/rate-limit/index.js';
import { PostgresStreamSnapshots } from '../adapters/streams/stream-snapshots.postgres.js';
import { SHUTDOWN_DEPENDENCY } from '../shared/grpc/error-metadata.js';
import type { Logger, Registry } from '../telemetry/index.js';
import { marketDataRpc } from '../transport/rpc/market-data.rpc.js';
import { sessionRpc } from '../transport/rpc/session.rpc.js';
import {
  StreamCalls,
  type MarketDataPerAddress,
  type RevocationWatch,
} from '../transport/rpc/stream-calls.js';
import { WebSocketConnections } from '../transport/websocket/websocket-connections.js';
import type { WebSocketOptions } from '../transport/websocket/websocket-route.js';
import { websocketMetrics } from '../transport/websocket/websocket.metrics.js';
import type { DataLayer } from './data-layer.js';
import type { OrdersSettings } from './orders.js';

export interface Streams {
  readonly marketDataRpc: ReturnType<typeof marketDataRpc>;
  readonly sessionRpc: ReturnType<typeof sessionRpc>;
  /** `/ws` on the HTTP port, over the same core as the RPC handlers. */
  readonly websocket: WebSocketOptions;
  /** Every open stream connection, whatever its transport registers with it. */
  readonly drain: StreamDrain;
  /** Tells every stream to reconnect (jittered) and ends it: before the servers close. */
  readonly drainStep: ShutdownStep;
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
    readonly verifyToken: (token: string) => Promise<VerifiedToken>;
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
  const metrics = streamMetrics(deps.registry);
  const drain = new StreamDrain({
    windowMs: config.streams.drainWindowMs,
    random: Math.random,
    sleep: (ms) => sleep(ms),
    now: Date.now,
    observe: (seconds) => {
      metrics.drainSeconds.observe(seconds);
    },
    logger: deps.logger,
  });
  const { streams } = config;
  const gateway = new StreamGateway({
    log: data.streamLog,
    snapshots,
    replicas,
    sessions: data.sessions,
    limits,
    connection: {
      heartbeat: {
        intervalMs: streams.heartbeat.intervalMs,
        idleTimeoutMs: streams.heartbeat.idleTimeoutMs,
        thresholds: {
          excellent: {
            rttMs: streams.quality.rttMs.excellent,
            jitterMs: streams.quality.jitterMs.excellent,
          },
          good: { rttMs: streams.quality.rttMs.good, jitterMs: streams.quality.jitterMs.good },
          fair: { rttMs: streams.quality.rttMs.fair, jitterMs: streams.quality.jitterMs.fair },
          hysteresis: streams.quality.hysteresis,
          upgradeSamples: streams.quality.upgradeSamples,
          missedForPoor: streams.quality.missedForPoor,
          missedForOffline: streams.quality.missedForOffline,
        },
      },
      maxMessages: streams.sendQueueMax,
      conflateBytes: streams.sendQueueConflateBytes,
      maxBytes: streams.sendQueueMaxBytes,
      conflateIntervalMs: streams.conflateIntervalMs,
    },
    connections: new ConnectionRegistry(metrics),
    sessionTtlSeconds: streams.sessionTtlSeconds,
    pod: config.podName,
    metrics,
    logger: deps.logger,
    sleep: (ms) => sleep(ms),
    now: Date.now,
    drain,
    goingAway: () =>
      new DomainError('unavailable', 'the server is shutting down; reconnect to continue', {
        retryAfterMs: 0,
        dependency: SHUTDOWN_DEPENDENCY,
      }),
  });
  const calls = new StreamCalls({
    gateway,
    symbols: new Set(settings.markets.map((market) => market.spec.symbol)),
    maxSubscriptions: config.streams.maxSubscriptions,
    perAddress: marketDataPerAddress(config, data, deps),
    ...(deps.revocations === undefined ? {} : { revocations: deps.revocations }),
  });
  const { websocket } = config;
  return {
    marketDataRpc: marketDataRpc({
      calls,
      replicas,
      log: data.streamLog,
      limitOrderBook: orderBookPerAddress(config, data, deps),
    }),
    sessionRpc: sessionRpc({ calls, gateway, verifyToken: deps.verifyToken }),
    websocket: {
      calls,
      authenticate: deps.verifyToken,
      maxSubscriptions: websocket.maxSubscriptions,
      maxPayloadBytes: websocket.maxPayloadBytes,
      frames: websocket.frames,
      sendHighWaterBytes: websocket.sendHighWaterBytes,
      connections: new WebSocketConnections(websocket.maxConnectionsPerIp),
      metrics: websocketMetrics(deps.registry),
      logger: deps.logger,
      now: Date.now,
    },
    drain,
    drainStep: { name: 'stream drain', run: () => drain.drain() },
    closeStep: {
      name: 'book replicas',
      run: () => {
        replicas.close();
        return Promise.resolve();
      },
    },
  };
}

/**
 * Public market data per client address, alike on every transport: the streams it holds open
 * on this process, and its subscribes over time, counted in Redis (with REDIS_URL) for every
 * pod like the other rate limits.
 */
function marketDataPerAddress(
  config: Config,
  data: DataLayer,
  deps: { readonly logger: Logger; readonly registry: Registry },
): MarketDataPerAddress {
  const STREAMS_SCOPE = 'market_streams_ip';
  const rejections = rateLimitRejections(deps.registry);
  rejections.inc({ scope: STREAMS_SCOPE }, 0);
  const subscribes = new GuardedRateLimiter({
    limiter: data.rateLimiter,
    scope: 'subscribe_ip',
    failureMode: config.limits.subscribeFailureMode,
    logger: deps.logger,
    registry: deps.registry,
    // Configured per minute: refusals quote it so.
    refusal: { what: 'market data subscribes from this address', per: 'minute' },
  });
  return {
    streams: new MarketStreamsPerAddress(config.streams.maxPerIp, () => {
      rejections.inc({ scope: STREAMS_SCOPE });
    }),
    limitSubscribe: async (address) => {
      await subscribes.enforce(addressKey(address), config.limits.subscribePerIp);
    },
  };
}

/**
 * `GetOrderBook` calls per client address, alike on every transport and counted in Redis (with
 * REDIS_URL) for every pod: a public snapshot, each a copy of the book, needs no token either.
 */
function orderBookPerAddress(
  config: Config,
  data: DataLayer,
  deps: { readonly logger: Logger; readonly registry: Registry },
): (address: string) => Promise<void> {
  const books = new GuardedRateLimiter({
    limiter: data.rateLimiter,
    scope: 'order_book_ip',
    failureMode: config.limits.orderBookFailureMode,
    logger: deps.logger,
    registry: deps.registry,
    // Configured per minute: refusals quote it so.
    refusal: { what: 'order book requests from this address', per: 'minute' },
  });
  return async (address) => {
    await books.enforce(addressKey(address), config.limits.orderBookPerIp);
  };
}
