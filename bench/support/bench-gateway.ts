// The stream gateway as one stream pod runs it, on the in-process log and session store, for
// the fan-out benchmarks (bench:fanout's gateway servers and bench/fanout-path.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { MemorySessionStore } from '../../src/adapters/streams/session-store.memory.js';
import { MemoryStreamLog } from '../../src/adapters/stream-log/stream-log.memory.js';
import { BookReplicas } from '../../src/domain/streams/book-replicas.js';
import { ConnectionRegistry } from '../../src/domain/streams/connection-registry.js';
import { DEFAULT_HEARTBEAT_SETTINGS } from '../../src/domain/streams/heartbeat-tracker.js';
import { StreamGateway } from '../../src/domain/streams/stream-gateway.js';
import { streamMetrics } from '../../src/domain/streams/stream.metrics.js';
import { DEFAULT_SUBSCRIPTION_LIMITS } from '../../src/domain/streams/stream-subscription.js';
import { createLogger, createMetricsRegistry } from '../../src/telemetry/index.js';
import { StreamCalls } from '../../src/transport/rpc/stream-calls.js';

export function benchGateway(service: string, symbol: string) {
  const log = new MemoryStreamLog({ epoch: 1 });
  const logger = createLogger({ level: 'warn', base: { service } });
  const registry = createMetricsRegistry({ version: service, role: 'stream' });
  const metrics = streamMetrics(registry);
  const snapshots = {
    book: () => Promise.resolve({ seq: 0, bids: [], asks: [] }),
    balances: () => Promise.resolve({ seq: 0, balances: [] }),
  };
  const limits = DEFAULT_SUBSCRIPTION_LIMITS;
  const replicas = new BookReplicas({ log, snapshots, limits, sleep: (ms) => sleep(ms), logger });
  const gateway = new StreamGateway({
    log,
    snapshots,
    replicas,
    sessions: new MemorySessionStore(),
    limits,
    connection: {
      heartbeat: DEFAULT_HEARTBEAT_SETTINGS,
      maxMessages: 4_096,
      conflateBytes: 256 * 1_024,
      maxBytes: 1_024 * 1_024,
      conflateIntervalMs: 1_000,
    },
    connections: new ConnectionRegistry(metrics),
    sessionTtlSeconds: 3_600,
    pod: 'bench',
    metrics,
    logger,
    sleep: (ms) => sleep(ms),
    now: Date.now,
  });
  const calls = new StreamCalls({ gateway, symbols: new Set([symbol]), maxSubscriptions: 20 });
  return { log, logger, registry, metrics, replicas, gateway, calls };
}
