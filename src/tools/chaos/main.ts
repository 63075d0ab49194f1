import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../../config/index.js';
import { DEFAULT_CHAOS_OPTIONS, runChaos, TRADER_TRANSPORTS, type ChaosReport } from './run.js';
import { STREAM_TRANSPORTS } from './stream-transports.js';

/**
 * `npm run chaos -- --kills N --duration S --seed K`: a local cluster under load and random
 * kills; prints what held and what did not, then one JSON line. Exit code 1 if an invariant
 * failed. DATABASE_URL and REDIS_URL choose the servers (a fresh schema and key prefix each run).
 * `--transports grpc,websocket` picks the subscribers' transports (all four by default);
 * `--traders-transport sdk|grpc|mix` the traders' (the client SDK by default, `mix` half each);
 * `--prometheus auto|on|off` whether a real Prometheus watches the run (auto: when installed),
 * `--alert-for 10s` shortens every alert rule's `for:` for the run.
 */
const { values } = parseArgs({
  options: {
    kills: { type: 'string' },
    duration: { type: 'string' },
    seed: { type: 'string' },
    'sigkill-share': { type: 'string' },
    traders: { type: 'string' },
    subscribers: { type: 'string' },
    keep: { type: 'boolean' },
    transports: { type: 'string' },
    'traders-transport': { type: 'string' },
    prometheus: { type: 'string' },
    'alert-for': { type: 'string' },
  },
});
const count = (max: number) => z.coerce.number().int().min(0).max(max);
const args = z
  .object({
    kills: count(10_000).default(DEFAULT_CHAOS_OPTIONS.kills),
    duration: count(86_400).min(5).default(DEFAULT_CHAOS_OPTIONS.durationS),
    seed: count(2 ** 31).default(DEFAULT_CHAOS_OPTIONS.seed),
    'sigkill-share': z.coerce.number().min(0).max(1).default(DEFAULT_CHAOS_OPTIONS.sigkillShare),
    traders: count(200).min(2).default(DEFAULT_CHAOS_OPTIONS.traders),
    subscribers: count(200).default(DEFAULT_CHAOS_OPTIONS.marketSubscribers),
    keep: z.boolean().default(false),
    transports: z
      .string()
      .transform((text) => [...new Set(text.split(',').map((part) => part.trim()))])
      .pipe(
        z
          .array(
            z.enum(STREAM_TRANSPORTS, {
              error: `--transports: a comma-separated list of ${STREAM_TRANSPORTS.join(', ')}`,
            }),
          )
          .min(1),
      )
      .default([...STREAM_TRANSPORTS]),
    'traders-transport': z
      .enum(TRADER_TRANSPORTS, { error: `--traders-transport: ${TRADER_TRANSPORTS.join(', ')}` })
      .default(DEFAULT_CHAOS_OPTIONS.tradersTransport),
    prometheus: z
      .enum(['auto', 'on', 'off'], { error: '--prometheus: auto, on or off' })
      .default('auto'),
    'alert-for': z
      .string()
      .regex(/^\d+(ms|s|m)$/, '--alert-for: a Prometheus duration such as 10s or 1m')
      .optional(),
  })
  .parse(values);

// DATABASE_URL and REDIS_URL as the app reads them.
const config = loadConfig();
const report = await runChaos(
  {
    ...DEFAULT_CHAOS_OPTIONS,
    kills: args.kills,
    durationS: args.duration,
    seed: args.seed,
    sigkillShare: args['sigkill-share'],
    traders: args.traders,
    marketSubscribers: args.subscribers,
    keep: args.keep,
    transports: args.transports,
    tradersTransport: args['traders-transport'],
    prometheus: args.prometheus,
    ...(args['alert-for'] === undefined ? {} : { alertFor: args['alert-for'] }),
    databaseUrl: config.databaseUrl ?? DEFAULT_CHAOS_OPTIONS.databaseUrl,
    redisUrl: config.redisUrl ?? DEFAULT_CHAOS_OPTIONS.redisUrl,
  },
  (line) => {
    console.log(line);
  },
);
const failures = invariantFailures(report);
console.log(summary(report, failures));
console.log(JSON.stringify({ tool: 'chaos', ok: failures.length === 0, ...report }));
process.exitCode = failures.length === 0 ? 0 : 1;

function invariantFailures(r: ChaosReport): string[] {
  const zero = {
    acked_orders_lost: r.acked_orders_lost,
    acks_conflicting: r.acks_conflicting,
    orders_duplicated: r.orders_duplicated,
    fills_duplicated: r.fills_duplicated,
    trade_ids_broken: r.trade_ids_broken,
    reservations_mismatched: r.reservations_mismatched,
    stream_gaps: r.stream_gaps,
    stream_duplicates: r.stream_duplicates,
    checksum_mismatches: r.checksum_mismatches,
    books_mismatched: r.books_mismatched,
    streams_behind: r.streams_behind,
    private_mismatches: r.private_mismatches,
    dashboard_query_errors: r.dashboard_query_errors.length,
  };
  return [
    ...Object.entries(zero)
      .filter(([, n]) => n !== 0)
      .map(([name, n]) => `${name} = ${n}`),
    ...(r.balances_conserved ? [] : ['balances not conserved']),
  ];
}

function summary(r: ChaosReport, failures: readonly string[]): string {
  const check = (ok: boolean) => (ok ? 'ok  ' : 'FAIL');
  return [
    '',
    `chaos seed ${r.seed}: ${r.kills} kills in ${r.duration_s} s (${Object.entries(r.kills_by)
      .map(([what, n]) => `${n} ${what}`)
      .join(', ')})`,
    `${check(r.acked_orders_lost === 0)} acknowledged orders lost: ${r.acked_orders_lost} of ${r.acked_orders}`,
    `${check(r.fills_duplicated === 0 && r.trade_ids_broken === 0)} fills duplicated: ${r.fills_duplicated} (trade ids broken: ${r.trade_ids_broken})`,
    `${check(r.orders_duplicated === 0 && r.acks_conflicting === 0)} orders duplicated: ${r.orders_duplicated} (conflicting acks: ${r.acks_conflicting})`,
    `${check(r.balances_conserved && r.reservations_mismatched === 0)} balances conserved per asset: ${r.balances_conserved} (reservations off: ${r.reservations_mismatched})`,
    `${check(r.stream_gaps === 0 && r.stream_duplicates === 0)} stream gaps: ${r.stream_gaps}, duplicates: ${r.stream_duplicates}, streams behind at the end: ${r.streams_behind}`,
    `${check(r.books_mismatched === 0 && r.checksum_mismatches === 0)} client books unlike the engine's: ${r.books_mismatched} (checksum mismatches on the way: ${r.checksum_mismatches})`,
    `${check(r.private_mismatches === 0)} private streams unlike PostgreSQL (fills, orders, balances): ${r.private_mismatches}`,
    ...Object.entries(r.transports).map(
      ([kind, t]) =>
        `${check(t.stream_gaps + t.stream_duplicates + t.checksum_mismatches + t.books_mismatched + t.streams_behind + t.private_mismatches === 0)}   ${kind}: ${t.subscribers} subscribers, ${t.messages} messages, gaps ${t.stream_gaps}, duplicates ${t.stream_duplicates}, books off ${t.books_mismatched}, behind ${t.streams_behind}, private off ${t.private_mismatches}; ${t.resumes} resumes (${t.migrations} migrations), p99 ${t.resume_p99_ms} ms`,
    ),
    `     resumes: ${r.resumes} (${r.resumes_not_recovered} not recovered), p50 ${r.resume_p50_ms} ms, p99 ${r.resume_p99_ms} ms, max ${r.resume_max_ms} ms`,
    `     migrations seen by clients: ${r.migrations}, stream pod kills: ${r.stream_pod_kills}`,
    `     engine: ${r.engine_leader_kills} leader kills, ${r.engine_takeovers} takeovers, slowest ${r.takeover_max_ms} ms`,
    `     held: ${r.orders_per_s} orders/s, ${r.messages_per_s} stream messages/s; ${r.call_retries} call retries, ${r.calls_abandoned} abandoned${abandonedBy(r.calls_abandoned_by)}`,
    `     traders over ${r.traders_transport}: ${Object.entries(r.traders_by_transport)
      .map(
        ([kind, t]) =>
          `${kind} ${t.traders} traders, ${t.acked_orders} acked, ${t.call_retries} retries, ${t.calls_abandoned} abandoned`,
      )
      .join('; ')}`,
    ...observed(r),
    failures.length === 0 ? 'every invariant held' : `FAILED: ${failures.join(', ')}`,
  ].join('\n');
}

function observed(r: ChaosReport): string[] {
  if (r.panels_total === null) return [`     prometheus: ${r.prometheus}`];
  const list = (names: readonly string[] | null, separator = ', ') =>
    names === null || names.length === 0 ? 'none' : names.join(separator);
  return [
    `     alerts fired: ${list(r.alerts_fired)}; pending only: ${list(r.alerts_pending)}`,
    `     dashboard panels moved: ${r.panels_moved} of ${r.panels_total}; still: ${list(r.panels_still, '; ')}`,
    `     annotations marked: ${list(r.annotations_marked, '; ')}`,
  ];
}

function abandonedBy(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  if (entries.length === 0) return '';
  return ` (${entries.map(([why, n]) => `${n}x ${why}`).join('; ')})`;
}
