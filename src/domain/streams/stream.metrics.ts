import { counter, gauge, histogram, type Registry } from '../../telemetry/index.js';

export type ResumeResult = 'replayed' | 'snapshot' | 'rejected';
export type MigrationResult = 'migrated' | 'unknown';

/** The stream gateway's metrics, named as in docs/metrics.md, the metrics contract. */
export function streamMetrics(registry: Registry) {
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
    help: 'Streams open on this process, by transport (grpc, grpc-web, connect) and connection quality.',
    labelNames: ['transport', 'quality'] as const,
  });
  const queueBytes = gauge(registry, {
    name: 'stream_send_queue_bytes',
    help: 'Payload bytes waiting to be written to stream clients on this process.',
  });
  const slowConsumers = counter(registry, {
    name: 'stream_slow_consumer_disconnects_total',
    help: 'Streams ended because the client fell too far behind (RESOURCE_EXHAUSTED).',
  });
  const sent = counter(registry, {
    name: 'stream_messages_sent_total',
    help: 'Messages handed to stream clients, by stream kind (book, trades, orders).',
    labelNames: ['kind'] as const,
  });
  for (const result of ['replayed', 'snapshot', 'rejected'] as const) resumes.inc({ result }, 0);
  for (const result of ['migrated', 'unknown'] as const) migrations.inc({ result }, 0);
  for (const kind of ['book', 'trades', 'orders'] as const) sent.inc({ kind }, 0);
  slowConsumers.inc(0);
  queueBytes.set(0);
  return { resumes, replayed, migrations, connections, queueBytes, slowConsumers, sent };
}

export type StreamMetrics = ReturnType<typeof streamMetrics>;
