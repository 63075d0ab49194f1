// The "Dependencies & security" dashboard: how the service's dependencies (PostgreSQL, Redis,
// later the engine) behave as seen through the resilience layer (circuit breakers, timeouts,
// retries, health checks, the connection pool), and the security signals next to them (rate
// limits, logins, refresh token rotation, revocation syncs, TLS certificates). The two belong
// together: a Redis outage shows up as an open breaker, a down dependency and a rate limiter
// failing open in the same minutes.
//
// Every query uses metric names from docs/metrics.md. `redis_connection_up` is left out on
// purpose: it exists only when Redis is configured (not in the default embedded mode), and
// `dependency_up{dependency="redis"}` carries the same signal on every deployment.
//
// The v1 dashboard schema is deprecated in the SDK; see service-overview.ts for why it ships.
/* eslint-disable @typescript-eslint/no-deprecated */
import {
  MappingType,
  RowBuilder,
  type Dashboard,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueTextMode,
} from '@grafana/grafana-foundation-sdk/common';
import {
  PanelIds,
  alarming,
  breakerStates,
  labelValuesVariable,
  platformDashboard,
  query,
  rate,
  stat,
  stateTimeline,
  steps,
  target,
  targetVariables,
  timeseries,
} from './panels.js';

export const DEPENDENCIES_UID = 'trading-platform-dependencies';

/** Queries on per-dependency metrics also narrow by the `dependency` variable. */
const dep = `${target}, dependency=~"$dependency"`;

const upStates: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'down', color: 'red', index: 0 },
      '1': { text: 'up', color: 'green', index: 1 },
    },
  },
];

export function dependencies(): Dashboard {
  const ids = new PanelIds();
  // The revocations and TLS row came after the first version (ids 1-27).
  const securityIds = new PanelIds(28);
  // Rejected attempts never reach the dependency (the breaker refused them in microseconds);
  // counting them in latency would make an outage look fast.
  const attempted = `${dep}, outcome!="rejected"`;

  const builder = platformDashboard(
    'Trading platform / Dependencies & security',
    DEPENDENCIES_UID,
    'Circuit breakers, dependency calls, health checks and the PostgreSQL pool; rate limits, logins, refresh token rotation, session revocation syncs and TLS certificate expiry and reloads.',
    ['trading-platform', 'dependencies', 'security'],
  );
  for (const variable of targetVariables()) builder.withVariable(variable);
  builder.withVariable(
    labelValuesVariable('dependency', 'Dependency', `circuit_breaker_state{${target}}`),
  );

  builder
    .withRow(new RowBuilder('Overview').id(ids.take()))
    .withPanel(
      stat(
        ids,
        'Circuit breakers (worst pod)',
        'State of each dependency\'s circuit breaker on the pod where it is worst. "open" means calls are refused without trying; "half-open" means a trial call is in flight.',
        'none',
        [query('A', `max by (dependency) (circuit_breaker_state{${dep}})`, '{{dependency}}')],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'yellow' },
          { value: 2, color: 'red' },
        ],
      )
        .mappings(breakerStates)
        .colorMode(BigValueColorMode.Background)
        .graphMode(BigValueGraphMode.None)
        .textMode(BigValueTextMode.ValueAndName),
    )
    .withPanel(
      stat(
        ids,
        'Dependencies up (worst pod)',
        'Health of each dependency on the pod where it is worst: PostgreSQL from a SELECT 1 every 5 s, Redis from its connection events.',
        'none',
        [query('A', `min by (dependency) (dependency_up{${dep}})`, '{{dependency}}')],
        [
          { value: null, color: 'red' },
          { value: 1, color: 'green' },
        ],
      )
        .mappings(upStates)
        .colorMode(BigValueColorMode.Background)
        .graphMode(BigValueGraphMode.None)
        .textMode(BigValueTextMode.ValueAndName),
    )
    .withPanel(
      stat(
        ids,
        'Callers waiting for a DB connection',
        'Callers queued for a PostgreSQL pool connection right now, all pods. Above 0 for minutes means the pool is saturated.',
        'none',
        [query('A', `sum(db_pool_connections{${target}, state="waiting"})`, 'waiting')],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'orange' },
          { value: 10, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Rate-limit fail-open',
        'Requests let through without a rate-limit decision in the time range, because the limiter store (Redis) was unavailable: limits were not enforced.',
        'none',
        [query('A', `sum(increase(rate_limit_fail_open_total{${target}}[$__range]))`, 'fail-open')],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Refresh token reuse',
        'Refresh tokens presented again after rotation in the time range. Each one revoked a whole session: possible token theft.',
        'none',
        [
          query(
            'A',
            `sum(increase(auth_token_refreshes_total{${target}, result="reuse_detected"}[$__range]))`,
            'reuse detected',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Active sessions',
        'Sessions (refresh token families) with a live refresh token. Every pod reports the same count from the database, hence max, not sum.',
        'short',
        [query('A', `max(auth_active_sessions{${target}})`, 'sessions')],
      ),
    );

  builder
    .withRow(new RowBuilder('Circuit breakers').id(ids.take()))
    .withPanel(
      stateTimeline(
        ids,
        'Breaker state by pod',
        'Each pod keeps its own breaker per dependency. Half-open is entered lazily, on the first call after the open delay: with no traffic a breaker stays open.',
        `max by (dependency, pod) (circuit_breaker_state{${dep}})`,
        '{{dependency}} {{pod}}',
        breakerStates,
        12,
      )
        .max(2)
        .thresholds(steps([null, 'green'], [1, 'yellow'], [2, 'red'])),
    )
    .withPanel(
      timeseries(
        ids,
        'Breaker transitions',
        'State changes per window, by dependency and the state entered. A saw-tooth of open/half-open means the trial calls keep failing.',
        'short',
        [
          query(
            'A',
            `sum by (dependency, from, to) (increase(circuit_breaker_transitions_total{${dep}}[$__rate_interval]))`,
            '{{dependency}} {{from}} → {{to}}',
          ),
        ],
      ),
    );

  builder
    .withRow(new RowBuilder('Dependency calls').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Attempts/s by outcome',
        'Every attempt against a dependency (retries included), by outcome: success, error, timeout, or rejected by an open breaker.',
        'reqps',
        [
          query(
            'A',
            `sum by (dependency, outcome) (${rate(`dependency_request_seconds_count{${dep}}`)})`,
            '{{dependency}} {{outcome}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Failure ratio by outcome',
        'Share of attempts per dependency that ended in error, timeout or rejected.',
        'percentunit',
        [
          query(
            'A',
            `sum by (dependency, outcome) (${rate(`dependency_request_seconds_count{${dep}, outcome!="success"}`)}) / ignoring (outcome) group_left sum by (dependency) (${rate(`dependency_request_seconds_count{${dep}}`)})`,
            '{{dependency}} {{outcome}}',
          ),
        ],
      ).max(1),
    )
    .withPanel(
      timeseries(
        ids,
        'Attempt latency p50 / p99',
        'Duration of attempts that reached the dependency (rejected attempts left out), from the dependency_request_seconds histogram. Timeouts pile up at the timeout.',
        's',
        (['0.5', '0.99'] as const).map((q, i) =>
          query(
            String.fromCharCode(65 + i),
            `histogram_quantile(${q}, sum by (dependency, le) (${rate(`dependency_request_seconds_bucket{${attempted}}`)}))`,
            `p${String(Number(q) * 100)} {{dependency}}`,
          ),
        ),
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Retries/s',
        'Retried attempts per second (idempotent calls only). Retries never go into an open breaker.',
        'ops',
        [query('A', `sum by (dependency) (${rate(`retries_total{${dep}}`)})`, '{{dependency}}')],
      ),
    );

  builder
    .withRow(new RowBuilder('Health checks and PostgreSQL pool').id(ids.take()))
    .withPanel(
      stateTimeline(
        ids,
        'Dependency up by pod',
        'dependency_up per pod: PostgreSQL from a SELECT 1 through the breaker every 5 s, Redis from its connection events.',
        `min by (dependency, pod) (dependency_up{${dep}})`,
        '{{dependency}} {{pod}}',
        upStates,
        8,
      )
        .max(1)
        .thresholds(steps([null, 'red'], [1, 'green'])),
    )
    .withPanel(
      timeseries(
        ids,
        'Pool connections',
        'PostgreSQL pool connections per pod: total open, idle, and callers waiting for one. Waiting with no idle connection means the pool is the bottleneck.',
        'short',
        [query('A', `sum by (pod, state) (db_pool_connections{${target}})`, '{{state}} {{pod}}')],
        8,
      ).overrideByRegexp('^waiting .*', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Pool acquire latency p50 / p99',
        'Time to obtain a connection from the pool (pool.connect()), per pod. An idle connection is handed out in well under 1 ms.',
        's',
        (['0.5', '0.99'] as const).map((q, i) =>
          query(
            String.fromCharCode(65 + i),
            `histogram_quantile(${q}, sum by (pod, le) (${rate(`db_pool_acquire_seconds_bucket{${target}}`)}))`,
            `p${String(Number(q) * 100)} {{pod}}`,
          ),
        ),
        8,
      ),
    );

  builder
    .withRow(new RowBuilder('Rate limits').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Rate-limit rejections/s by scope',
        'Requests refused by a rate limit: user (per-user API budget), login_ip, login_user_ip and login_user (login throttling), register_ip (registrations per address), subscribe_ip and market_streams_ip (market data subscribes and open streams per address), order_book_ip (GetOrderBook calls per address), refresh_ip (Refresh and Logout calls per address).',
        'reqps',
        [
          query(
            'A',
            `sum by (scope) (${rate(`rate_limit_rejections_total{${target}}`)})`,
            '{{scope}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Rate-limit fail-open/s by scope',
        'Requests allowed without a decision because the limiter store was unavailable. Any value here means the limit was not enforced.',
        'reqps',
        [
          query(
            'A',
            `sum by (scope) (${rate(`rate_limit_fail_open_total{${target}}`)})`,
            '{{scope}}',
          ),
        ],
      ),
    );

  builder
    .withRow(new RowBuilder('Authentication').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Logins/s by result',
        'Login attempts by result: success, invalid_credentials, invalid_argument, throttled (refused by the login rate limits).',
        'reqps',
        [query('A', `sum by (result) (${rate(`auth_logins_total{${target}}`)})`, '{{result}}')],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Login failure ratio',
        'invalid_credentials / (success + invalid_credentials). Users mistype; a ratio near 1 at volume is credential stuffing (alert TradingPlatformLoginFailuresHigh).',
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(`auth_logins_total{${target}, result="invalid_credentials"}`)}) / sum(${rate(`auth_logins_total{${target}, result=~"success|invalid_credentials"}`)})`,
            'failure ratio',
          ),
        ],
      ).max(1),
    )
    .withPanel(
      timeseries(
        ids,
        'Token refreshes/s by result',
        'Refresh token rotations by result. reuse_detected (red) is a rotated token presented again: the session is revoked, and it may mean the token was stolen.',
        'reqps',
        [
          query(
            'A',
            `sum by (result) (${rate(`auth_token_refreshes_total{${target}, result!="reuse_detected"}`)})`,
            '{{result}}',
          ),
          query(
            'B',
            `sum(${rate(`auth_token_refreshes_total{${target}, result="reuse_detected"}`)})`,
            'reuse_detected',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Active sessions',
        'Sessions with a live refresh token (the same database count on every pod, hence max).',
        'short',
        [query('A', `max(auth_active_sessions{${target}})`, 'sessions')],
      ),
    );

  builder
    .withRow(new RowBuilder('Session revocations and TLS').id(securityIds.take()))
    .withPanel(
      timeseries(
        securityIds,
        'Revocation syncs/s by result',
        'Polls of the shared session revocations (every AUTH_REVOCATION_POLL_MS, on every pod) by result. failure, in red: the pod cannot read them (PostgreSQL unreachable), so logouts and refresh-token reuse made on other pods do not reach it, and their access tokens keep working there, open streams included, until the syncs succeed again or the tokens expire. Alert TradingPlatformRevocationSyncFailing.',
        'ops',
        [
          query(
            'A',
            `sum by (result) (${rate(`auth_revocation_syncs_total{${target}}`)})`,
            '{{result}}',
          ),
          query(
            'B',
            `sum by (pod) (${rate(`auth_revocation_syncs_total{${target}, result="failure"}`)})`,
            'failure {{pod}}',
          ),
        ],
      ).overrideByRegexp('^failure .*', alarming),
    )
    .withPanel(
      timeseries(
        securityIds,
        'Revoked sessions known, by pod',
        'Revoked sessions whose access tokens have not expired yet, as each pod knows them (auth_revoked_sessions). Every pod should show the same line; a pod below the others has missed revocations (its syncs fail, left).',
        'short',
        [query('A', `max by (pod) (auth_revoked_sessions{${target}})`, '{{pod}}')],
      ),
    )
    .withPanel(
      timeseries(
        securityIds,
        'TLS certificate time left by listener and pod',
        'Time until the certificate each listener serves expires (tls_certificate_expiry_seconds: grpc, http, and engine_client for the api → engine mTLS), by pod. A line that keeps falling where the others jumped back up is a pod that did not pick up the renewed files (see reloads, right). Alerts TradingPlatformTlsCertificateExpiring at 14 days and TradingPlatformTlsCertificateExpiryImminent at 2. Empty without TLS.',
        's',
        [
          query(
            'A',
            `min by (listener, pod) (tls_certificate_expiry_seconds{${target}})`,
            '{{listener}} {{pod}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        securityIds,
        'TLS certificate reloads in 1h by result',
        'Checks of the TLS files that found them changed, over an hour, by result: success (the new certificate is served from then on) or failure, in red (a file unreadable, a PEM that does not parse or a key that does not match: the previous certificate stays, and expires; counted at every check until fixed).',
        'short',
        [
          query(
            'A',
            `sum by (result) (increase(tls_certificate_reloads_total{${target}}[1h]))`,
            '{{result}}',
          ),
        ],
      )
        .decimals(0)
        .overrideByName('failure', alarming),
    );

  return builder.build();
}
