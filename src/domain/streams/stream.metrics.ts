import { counter, gauge, histogram, type Registry } from '../../telemetry/index.js';

export type ResumeResult = 'replayed' | 'snapshot' | 'rejected';
export type MigrationResult = 'migrated' | 'unknown';

/**
 * Why a client reconnected, as it says (the `reason` label of `stream_reconnects_total`; the
 * wire's `ReconnectReason`, proto/trading/v1/stream.proto). `unspecified`: it did not say.
 */
export const RECONNECT_REASONS = [
  'unspecified',
  'drain',
  'network',
  'slow_consumer',
  'token',
  'error',
  'resync',
  'transport_fallback',
] as const;
export type ReconnectReason = (typeof RECONNECT_REASONS)[number];

/** The `kind` label of `stream_messages_sent_total`. */
export type SentKind = 'book' | 'trades' | 'ticker' | 'orders';
const SENT_KINDS: readonly SentKind[] = ['book', 'trades', 'ticker', 'orders'];

/**
 * What every delivered message moves, kept as plain numbers and handed to prom-client when the
 * registry is read: a message costs an addition, not a label hash per subscriber. One per
 * registry, so every caller sharing a registry (and so the metrics) shares the numbers too.
 */
export interface StreamTallies {
  /** Bytes waiting in every connection's send queue (`stream_send_queue_bytes`). */
  queuedBytes: number;
  /** Messages handed to clients since the last read, by kind (`stream_messages_sent_total`). */
  readonly sent: Record<SentKind, number>;
  /** Live subscriptions by how their entries reach the client (`stream_live_subscriptions`). */
  readonly live: Record<LivePath, number>;
}

/**
 * The `path` label of `stream_live_subscriptions`: `direct`, caught up and written straight to
 * the connection in the fan-out's one pass per entry; `queued`, through the subscription's own
 * merge and send queue (starting, replaying, a connection behind or conflating, and the
 * transports that read the queue: gRPC, Connect, gRPC-Web).
 */
export type LivePath = 'direct' | 'queued';

const talliesOf = new WeakMap<Registry, StreamTallies>();

/** The stream gateway's metrics, named as in docs/metrics.md, the metrics contract. */
export function streamMetrics(registry: Registry) {
  let tallies = talliesOf.get(registry);
  if (tallies === undefined) {
    tallies = {
      queuedBytes: 0,
      sent: { book: 0, trades: 0, ticker: 0, orders: 0 },
      live: { direct: 0, queued: 0 },
    };
    talliesOf.set(registry, tallies);
  }
  const tally = tallies;
  const resumes = counter(registry, {
    name: 'stream_resume_total',
    help: 'Resume attempts by result: replayed (recovered), snapshot (a fresh start instead), rejected (refused).',
    labelNames: ['result'] as const,
  });
  const replayed = histogram(registry, {
    name: 'stream_replay_messages',
    help: 'Messages replayed from the stream log by one successful resume of one stream.',
    buckets: [0, 1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000],
  });
  const migrations = counter(registry, {
    name: 'session_migrations_total',
    help: 'Sessions reopened by id: migrated (served by another pod before), unknown (expired or never issued: a new session).',
    labelNames: ['result'] as const,
  });
  const connections = gauge(registry, {
    name: 'stream_connections',
    help: 'Streams open on this process, by transport (grpc, grpc-web, connect: one per call; websocket: one per subscribe or open_stream frame) and connection quality (excellent, good, fair, poor, offline).',
    labelNames: ['transport', 'quality'] as const,
  });
  const queueBytes = gauge(registry, {
    name: 'stream_send_queue_bytes',
    help: 'Payload bytes waiting to be written to stream clients on this process.',
    collect() {
      this.set(tally.queuedBytes);
    },
  });
  const liveSubscriptions = gauge(registry, {
    name: 'stream_live_subscriptions',
    help: 'Stream subscriptions on this process by how live entries reach their client: direct (caught up, written in one pass per entry) or queued (through their own send queue: starting, replaying, a client behind or conflated, and every gRPC, Connect and gRPC-Web stream, whose transports read the queue).',
    labelNames: ['path'] as const,
    collect() {
      this.set({ path: 'direct' }, tally.live.direct);
      this.set({ path: 'queued' }, tally.live.queued);
    },
  });
  const slowConsumers = counter(registry, {
    name: 'stream_slow_consumer_disconnects_total',
    help: 'Streams ended because the client fell too far behind, past STREAM_SEND_QUEUE_MAX_BYTES or STREAM_SEND_QUEUE_MAX (RESOURCE_EXHAUSTED).',
  });
  const sent = counter(registry, {
    name: 'stream_messages_sent_total',
    help: 'Messages handed to stream clients, by stream kind (book, trades, ticker, orders).',
    labelNames: ['kind'] as const,
    collect() {
      for (const kind of SENT_KINDS) {
        const n = tally.sent[kind];
        if (n === 0) continue;
        tally.sent[kind] = 0;
        this.inc({ kind }, n);
      }
    },
  });
  const drainSeconds = histogram(registry, {
    name: 'stream_drain_seconds',
    help: 'How long a shutdown took to send every stream a Reconnect and end it (spread over STREAM_DRAIN_WINDOW_MS).',
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
  });
  const reauthentications = counter(registry, {
    name: 'session_reauthentications_total',
    help: 'Fresh access tokens handed to a session (SessionService/Reauthenticate or in-band), by result: ok, denied (another user), unknown (no such session).',
    labelNames: ['result'] as const,
  });
  const tokenExpiries = counter(registry, {
    name: 'stream_token_expiries_total',
    help: 'Private streams ended with UNAUTHENTICATED because their access token expired and was not renewed.',
  });
  for (const result of ['ok', 'denied', 'unknown'] as const) reauthentications.inc({ result }, 0);
  tokenExpiries.inc(0);
  const rtt = histogram(registry, {
    name: 'stream_connection_rtt_seconds',
    help: 'Round-trip time of each answered heartbeat, by transport (queueing on the server included: a slow reader shows as a long RTT).',
    labelNames: ['transport'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 2.5, 5, 10],
  });
  const jitter = histogram(registry, {
    name: 'stream_connection_jitter_seconds',
    help: 'RFC 3550 jitter estimate of a connection after each answered heartbeat, by transport.',
    labelNames: ['transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1],
  });
  const heartbeatsMissed = counter(registry, {
    name: 'stream_heartbeats_missed_total',
    help: 'Heartbeats a client left unanswered for a whole interval, by transport.',
    labelNames: ['transport'] as const,
  });
  const qualityChanges = counter(registry, {
    name: 'stream_quality_changes_total',
    help: 'Connections moved from one quality class to another.',
    labelNames: ['from', 'to'] as const,
  });
  const conflated = counter(registry, {
    name: 'stream_conflated_messages_total',
    help: 'Book deltas folded into conflated messages instead of being sent one by one, by why the stream was conflated (quality: a poor link; queue: a full send queue).',
    labelNames: ['reason'] as const,
  });
  const idleDisconnects = counter(registry, {
    name: 'stream_idle_disconnects_total',
    help: 'Streams closed because their client answered no heartbeat for the idle timeout.',
  });
  const reconnects = counter(registry, {
    name: 'stream_reconnects_total',
    help: 'Stream calls (a WebSocket subscribe or open_stream frame) reopened with a session id, by the reason the client gives: drain, network, slow_consumer, token, error, resync, transport_fallback, unspecified.',
    labelNames: ['reason'] as const,
  });
  const pongs = counter(registry, {
    name: 'stream_pongs_total',
    help: 'Pongs received, by result: accepted, late (not the heartbeat in flight), unknown_session (no stream of that session on this pod).',
    labelNames: ['result'] as const,
  });
  for (const result of ['replayed', 'snapshot', 'rejected'] as const) resumes.inc({ result }, 0);
  for (const reason of ['quality', 'queue'] as const) conflated.inc({ reason }, 0);
  for (const result of ['accepted', 'late', 'unknown_session'] as const) pongs.inc({ result }, 0);
  idleDisconnects.inc(0);
  for (const reason of RECONNECT_REASONS) reconnects.inc({ reason }, 0);
  for (const result of ['migrated', 'unknown'] as const) migrations.inc({ result }, 0);
  for (const kind of SENT_KINDS) sent.inc({ kind }, 0);
  slowConsumers.inc(0);
  return {
    tallies: tally,
    resumes,
    replayed,
    migrations,
    connections,
    queueBytes,
    liveSubscriptions,
    slowConsumers,
    sent,
    drainSeconds,
    reauthentications,
    tokenExpiries,
    rtt,
    jitter,
    heartbeatsMissed,
    qualityChanges,
    conflated,
    idleDisconnects,
    reconnects,
    pongs,
  };
}

export type StreamMetrics = ReturnType<typeof streamMetrics>;
