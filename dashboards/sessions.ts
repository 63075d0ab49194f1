// The "Sessions & pod migrations" dashboard: what happens to stream clients when pods come and
// go. Sessions reopened on another pod (migrations) by result, resumes by outcome (replayed from
// the log, a fresh snapshot instead, rejected) and how much they replayed, how long stream pods
// took to drain, reconnects by reason, and a reconnect storm at a glance: the resume rate
// against its usual level as the storm alert takes it (meaningful from a deployment's first
// minutes, not only after a day); and the private streams' tokens, renewed or expired. Annotations
// mark pod starts, drains and unreachable targets, so a spike lines up with the pod event
// that caused it.
//
// Every query uses metric names from the DESIGN.md catalog ("sessions", "connections",
// "process"). The alerts TradingPlatformStreamReconnectStorm, TradingPlatformStreamResumeSnapshots,
// TradingPlatformStreamDrainTooLong and TradingPlatformStreamNoPodReady
// (alerts/streams.rules.yml) read the same series; their runbooks name the panels here.
//
// The v1 dashboard schema is deprecated in the SDK; see service-overview.ts for why it ships.
/* eslint-disable @typescript-eslint/no-deprecated */
import {
  AnnotationQueryBuilder,
  RowBuilder,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  PanelIds,
  alarming,
  datasource,
  platformDashboard,
  query,
  rate,
  stat,
  target,
  targetVariables,
  timeseries,
} from './panels.js';
import { shutdownPhases } from './service-overview.js';

export const SESSIONS_UID = 'trading-platform-sessions';

/** Resumes per second over the last 5 minutes. */
const RESUMES_5M = `sum(rate(stream_resume_total{${target}}[5m]))`;
/**
 * The usual rate as alert TradingPlatformStreamReconnectStorm takes it: the average of the
 * 5-minute rate over the previous day up to 15 minutes ago (so a storm does not raise its own
 * baseline), sampled each minute as the recording rule is. A deployment younger than a day
 * averages what it has, and one younger than 15 minutes has none.
 */
const USUAL = `avg_over_time(${RESUMES_5M}[1d:1m] offset 15m)`;
/**
 * The alert's floor (0.03 resumes/s) over its multiple (10): "usual" is never taken below it,
 * so a quiet or brand-new deployment reads 10 exactly where the alert's floor is.
 */
const USUAL_FLOOR = 0.003;
const USUAL_OR_FLOOR = `clamp_min(${USUAL} or vector(0), ${USUAL_FLOOR})`;
/** Now against the usual rate: about 1 is usual, 10 is where the alert fires. */
const STORM_RATIO = `${RESUMES_5M} / ${USUAL_OR_FLOOR}`;

/** A Prometheus annotation: one marker per pod while `expr` has a value. */
function podEvent(
  name: string,
  color: string,
  expr: string,
  title: string,
): AnnotationQueryBuilder {
  return new AnnotationQueryBuilder()
    .name(name)
    .datasource(datasource)
    .enable(true)
    .iconColor(color)
    .expr(expr)
    .step('30s')
    .titleFormat(title)
    .tagKeys('pod');
}

export function sessions(): Dashboard {
  const ids = new PanelIds();
  // The token row came after the first version (ids 1-17).
  const tokenIds = new PanelIds(18);
  const resumes = (matchers = '') => `stream_resume_total{${target}${matchers}}`;
  const migrations = (matchers = '') => `session_migrations_total{${target}${matchers}}`;

  const builder = platformDashboard(
    'Trading platform / Sessions & pod migrations',
    SESSIONS_UID,
    'Session migrations by result, resume outcomes and replay sizes, stream pod drain durations, reconnects by reason and a reconnect storm at a glance, token renewals and expiries of private streams, with pod starts and stops as annotations.',
    ['trading-platform', 'streams', 'sessions'],
  );
  for (const variable of targetVariables()) builder.withVariable(variable);
  builder
    .annotation(
      podEvent(
        'Pod started',
        'green',
        `(time() - process_start_time_seconds{${target}}) < 60`,
        'started {{pod}}',
      ),
    )
    .annotation(
      podEvent(
        'Pod draining',
        'orange',
        `max by (pod) (shutdown_phase{${target}}) > 0`,
        'draining {{pod}}',
      ),
    )
    .annotation(
      podEvent('Target down', 'red', `up{${target}} == 0`, 'unreachable {{pod}} {{instance}}'),
    );

  builder
    .withRow(new RowBuilder('Overview').id(ids.take()))
    .withPanel(
      stat(
        ids,
        'Reconnect storm',
        "Resumes per second over the last 5 minutes divided by the usual rate: the average of the previous day up to 15 minutes ago (whatever history a younger deployment has), never taken below 0.003/s (one resume in 5 minutes). About 1 is usual, above 3 clients are reconnecting far more than usual, 10 and above is a storm (a pod killed, a network or load balancer dropping connections): alert TradingPlatformStreamReconnectStorm fires there after 5 minutes unless a pod was draining. A new deployment, with no history, reads its rate against the floor: 10 is 0.03 resumes/s, the alert's own floor.",
        'none',
        [query('A', STORM_RATIO, 'x usual')],
        [
          { value: null, color: 'green' },
          { value: 3, color: 'orange' },
          { value: 10, color: 'red' },
        ],
      ).decimals(1),
    )
    .withPanel(
      stat(
        ids,
        'Sessions migrated',
        'Sessions reopened on another pod than the one that served them last, in the time range: each pod drained or lost moves its clients.',
        'none',
        [query('A', `sum(increase(${migrations(', result="migrated"')}[$__range]))`, 'migrated')],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Resumes recovered',
        'Share of resumes in the time range that replayed everything missed (recovered=true). The rest got a fresh snapshot or were rejected. Alert TradingPlatformStreamResumeSnapshots when snapshots pass 20 %.',
        'percentunit',
        [
          query(
            'A',
            `sum(increase(${resumes(', result="replayed"')}[$__range])) / sum(increase(${resumes()}[$__range]))`,
            'recovered',
          ),
        ],
        [
          { value: null, color: 'red' },
          { value: 0.8, color: 'orange' },
          { value: 0.95, color: 'green' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Longest drain',
        'Longest stream drain in the time range (from the first Reconnect sent, after SHUTDOWN_DRAIN_DELAY_MS, to the last stream gone), as the upper bound of its histogram bucket. A pod reports it on its way out, to the scrape it waits for (STREAM_DRAIN_LINGER_MS): a pod killed first, or one nothing scraped in time, is missing here (Shutdown phase by pod still shows it). Above the drain window means clients were cut off rather than told to reconnect.',
        's',
        [
          query(
            'A',
            `histogram_quantile(1, sum by (le) (increase(stream_drain_seconds_bucket{${target}}[$__range])))`,
            'longest',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 90, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Stream pods serving',
        'Stream-serving processes (ROLE=stream or all) that are up and not shutting down. 0 means no client can open a stream: alert TradingPlatformStreamNoPodReady.',
        'none',
        [
          query(
            'A',
            `count((shutdown_phase{${target}} == 0) and on (namespace, job, instance) app_info{${target}, role=~"stream|all"})`,
            'serving',
          ),
        ],
        [
          { value: null, color: 'red' },
          { value: 1, color: 'orange' },
          { value: 2, color: 'green' },
        ],
      ),
    )
    .withPanel(
      stat(ids, 'Open streams', 'Streams open on the selected pods right now.', 'short', [
        query('A', `sum(stream_connections{${target}})`, 'streams'),
      ]),
    )

    .withRow(new RowBuilder('Migrations and resumes').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Resumes/s against the usual rate',
        "Resumes per second (every outcome) over 5 minutes; dashed, the usual rate as alert TradingPlatformStreamReconnectStorm takes it (the previous day's average up to 15 minutes ago, whatever history a younger deployment has, at least 0.003/s), and dotted red its threshold, 10 times that. A storm stands above the red line.",
        'ops',
        [
          query('A', RESUMES_5M, 'resumes/s'),
          query('B', USUAL_OR_FLOOR, 'usual'),
          query('C', `10 * ${USUAL_OR_FLOOR}`, 'storm threshold'),
        ],
      )
        .overrideByQuery('B', [
          { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
          { id: 'color', value: { mode: 'fixed', fixedColor: 'text' } },
        ])
        .overrideByQuery('C', [
          { id: 'custom.lineStyle', value: { fill: 'dot', dash: [0, 10] } },
          { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
        ]),
    )
    .withPanel(
      timeseries(
        ids,
        'Sessions reopened/s by result',
        'Sessions reopened by id, per second: migrated (served by another pod before) or unknown (expired or never issued, so a new session). Migrations follow every drained or lost pod.',
        'ops',
        [query('A', `sum by (result) (${rate(migrations())})`, '{{result}}')],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Resumes/s by outcome',
        'Resume attempts per stream, per second: replayed (everything missed sent from the log), snapshot (too far behind, other epoch: a fresh start, recovered=false), rejected (refused). Snapshot and rejected in red.',
        'ops',
        [
          query('A', `sum by (result) (${rate(resumes())})`, '{{result}}'),
          query(
            'B',
            `sum(${rate(resumes(', result=~"snapshot|rejected"'))})`,
            'snapshot or rejected',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Replay size',
        'Messages one successful resume replayed from the stream log, p50/p99, and the mean. Close to STREAM_MAX_REPLAY means clients are about to fall back to snapshots.',
        'short',
        [
          query(
            'A',
            `histogram_quantile(0.5, sum by (le) (${rate(`stream_replay_messages_bucket{${target}}`)}))`,
            'p50',
          ),
          query(
            'B',
            `histogram_quantile(0.99, sum by (le) (${rate(`stream_replay_messages_bucket{${target}}`)}))`,
            'p99',
          ),
          query(
            'C',
            `sum(${rate(`stream_replay_messages_sum{${target}}`)}) / sum(${rate(`stream_replay_messages_count{${target}}`)})`,
            'mean',
          ),
        ],
      ),
    )

    .withRow(new RowBuilder('Drains and reconnects').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Drain duration',
        'How long stream pods took to drain (Reconnect sent to every client, spread over the window, until the last stream closed): p50 and the longest, over 15 minutes, as bucket upper bounds. Each draining pod reports its drain to the scrape it waits for before it exits (STREAM_DRAIN_LINGER_MS).',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.5, sum by (le) (increase(stream_drain_seconds_bucket{${target}}[15m])))`,
            'p50',
          ),
          query(
            'B',
            `histogram_quantile(1, sum by (le) (increase(stream_drain_seconds_bucket{${target}}[15m])))`,
            'longest',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Reconnects/s by reason',
        'Stream calls reopened with a session id, per second, by the reason the client gives: drain (after a Reconnect: rollouts), network (dropped connections, an unavailable service), slow_consumer, token (expired or revoked), error, resync (a gap or checksum mismatch: should be 0), transport_fallback (gRPC-Web blocked), unspecified (a client that does not say).',
        'ops',
        [
          query(
            'A',
            `sum by (reason) (${rate(`stream_reconnects_total{${target}}`)})`,
            '{{reason}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Shutdown phase by pod',
        'Graceful shutdown progress per pod: running, draining, closing, exited. A stream pod stuck outside running for minutes is a drain over its window (alert TradingPlatformStreamDrainTooLong).',
        'none',
        [query('A', `max by (pod) (shutdown_phase{${target}})`, '{{pod}}')],
        8,
      )
        .mappings(shutdownPhases)
        .max(3),
    )
    .withPanel(
      timeseries(
        ids,
        'Open streams by pod',
        'Streams per pod: a draining pod empties as its clients land on the others.',
        'short',
        [query('A', `sum by (pod) (stream_connections{${target}})`, '{{pod}}')],
        24,
      ),
    )

    .withRow(new RowBuilder('Tokens on private streams').id(tokenIds.take()))
    .withPanel(
      timeseries(
        tokenIds,
        'Re-authentications/s by result',
        "Fresh access tokens handed to private stream sessions (SessionService/Reauthenticate or a /ws authenticate frame), by result: ok; unknown (the session expired: the client reopens the stream); denied, in red (a token of another user than the session's: a client bug, or someone trying sessions that are not theirs).",
        'ops',
        [
          query(
            'A',
            `sum by (result) (${rate(`session_reauthentications_total{${target}}`)})`,
            '{{result}}',
          ),
          query(
            'B',
            `sum(${rate(`session_reauthentications_total{${target}, result="denied"}`)})`,
            'denied',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        tokenIds,
        'Private streams ended by token expiry/s',
        'Private streams ended UNAUTHENTICATED because their access token expired with no fresh one handed in (stream_token_expiries_total), by pod. The SDK renews a minute ahead, so a rise means clients cannot refresh (AuthService/Refresh failing: Dependencies & security, Token refreshes) or do not renew; each such client reconnects with reason token (Reconnects/s by reason).',
        'ops',
        [query('A', `sum by (pod) (${rate(`stream_token_expiries_total{${target}}`)})`, '{{pod}}')],
      ),
    );

  return builder.build();
}
