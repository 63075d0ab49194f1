import {
  counter,
  gauge,
  histogram,
  LATENCY_BUCKETS,
  type Registry,
} from '../../telemetry/index.js';

/** The trading metrics of the catalog that an engine shard records. */
export function engineMetrics(registry: Registry) {
  return {
    commandSeconds: histogram(registry, {
      name: 'engine_command_seconds',
      help: 'Time from a command reaching its shard to its reply, commit included.',
      labelNames: ['kind'] as const,
      buckets: LATENCY_BUCKETS,
    }),
    batchStepSeconds: histogram(registry, {
      name: 'engine_batch_step_seconds',
      help: "Time a committed batch spent in each step of its cycle: read (BEGIN, idempotency lookup, fencing, order ids, balance locks), plan (in JS), wait (for the batch ahead's commit), write, commit.",
      labelNames: ['shard', 'step'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.25, 1],
    }),
    batchSize: histogram(registry, {
      name: 'engine_batch_size',
      help: 'Commands committed per engine batch transaction.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    }),
    trades: counter(registry, {
      name: 'trades_total',
      help: 'Trades committed, by symbol.',
      labelNames: ['symbol'] as const,
    }),
    batches: counter(registry, {
      name: 'engine_batches_total',
      help: 'Engine batch transactions by shard and result (committed, failed, fenced).',
      labelNames: ['shard', 'result'] as const,
    }),
    deferred: counter(registry, {
      name: 'engine_repeats_deferred_total',
      help: 'Places that repeated a client order id whose first attempt was still committing, held for the next batch (a client retrying quickly).',
      labelNames: ['shard'] as const,
    }),
    retried: counter(registry, {
      name: 'engine_commands_retried_total',
      help: 'Commands run again in a later batch because theirs was rolled back by a race with another writer (another shard, or the batch ahead failing), instead of failing.',
      labelNames: ['shard'] as const,
    }),
    isolated: counter(registry, {
      name: 'engine_commands_isolated_total',
      help: "Commands of a batch the database refused for one command's data (a data exception or a constraint), run again in smaller batches so that only the command at fault fails; counted once per command.",
      labelNames: ['shard'] as const,
    }),
    refused: counter(registry, {
      name: 'engine_commands_refused_total',
      help: 'Commands the database refused when run alone, failed by themselves, by SQLSTATE and the code they were answered with (invalid_argument: data it cannot store; internal: a broken constraint, a bug).',
      labelNames: ['shard', 'sqlstate', 'code'] as const,
    }),
    epoch: gauge(registry, {
      name: 'engine_epoch',
      help: 'Fencing epoch of the shard this process leads (0 when it leads none).',
      labelNames: ['shard'] as const,
    }),
  };
}
