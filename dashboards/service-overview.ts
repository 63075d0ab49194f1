// The "Service overview" dashboard: RED per gRPC method and per HTTP route, plus the
// Node.js runtime signals that explain most latency (event loop, heap, GC, CPU).
// Every query uses metric names from docs/metrics.md; a rename there is a
// breaking change here, which `missingMetrics` (queried-metrics.ts) catches against a live
// /metrics page.
//
// Shared panel styles and variables are in panels.ts.
//
// The v1 dashboard schema is what Grafana file provisioning loads on every current version;
// the SDK marks it deprecated in favour of the v2 schema, which still needs feature toggles.
/* eslint-disable @typescript-eslint/no-deprecated */
import {
  RowBuilder,
  MappingType,
  type Dashboard,
  type QueryVariableBuilder,
  type ValueMapping,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { BigValueGraphMode, BigValueTextMode } from '@grafana/grafana-foundation-sdk/common';
import {
  PanelIds,
  platformDashboard,
  labelValuesVariable,
  query,
  rate,
  stat,
  target,
  targetVariables,
  timeseries,
} from './panels.js';

export const SERVICE_OVERVIEW_UID = 'trading-platform-overview';

/** gRPC queries also narrow by service; health checks are left in on purpose (they are traffic). */
const grpc = `${target}, grpc_service=~"$grpc_service"`;

/**
 * Codes that mean the server failed, as opposed to the caller asking for something invalid.
 * Kept identical to the SLO in alerts/trading-platform.rules.yml.
 */
export const SERVER_ERROR_CODES =
  'Unknown|Internal|Unavailable|DeadlineExceeded|DataLoss|Unimplemented';

function variables(): QueryVariableBuilder[] {
  return [
    ...targetVariables(),
    labelValuesVariable('grpc_service', 'gRPC service', `grpc_server_handled_total{${target}}`),
  ];
}

export const shutdownPhases: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'running', color: 'green', index: 0 },
      '1': { text: 'draining', color: 'yellow', index: 1 },
      '2': { text: 'closing', color: 'orange', index: 2 },
      '3': { text: 'exited', color: 'red', index: 3 },
    },
  },
];

export function serviceOverview(): Dashboard {
  const ids = new PanelIds();
  const serverErrors = `grpc_code=~"${SERVER_ERROR_CODES}"`;
  const unary = 'grpc_type="unary"';
  const quantiles = (metric: string, by: string, selector: string, legend: string) =>
    (['0.5', '0.95', '0.99'] as const).map((q, i) =>
      query(
        String.fromCharCode(65 + i),
        `histogram_quantile(${q}, sum by (${by}, le) (${rate(`${metric}_bucket{${selector}}`)}))`,
        `p${String(Number(q) * 100)} ${legend}`,
      ),
    );

  const builder = platformDashboard(
    'Trading platform / Service overview',
    SERVICE_OVERVIEW_UID,
    'RED per gRPC method and HTTP route, and Node.js runtime health, per role and pod.',
    ['trading-platform', 'grpc', 'nodejs'],
  );
  for (const variable of variables()) builder.withVariable(variable);

  builder
    .withRow(new RowBuilder('Overview').id(ids.take()))
    .withPanel(
      stat(
        ids,
        'Pods by version',
        'Pods reporting app_info, by role and version: a mixed set means a rollout is in progress.',
        'none',
        [query('A', `count by (role, version) (app_info{${target}})`, '{{role}} {{version}}')],
      )
        .textMode(BigValueTextMode.ValueAndName)
        .graphMode(BigValueGraphMode.None),
    )
    .withPanel(
      stat(ids, 'gRPC requests/s', 'All finished gRPC calls per second.', 'reqps', [
        query('A', `sum(${rate(`grpc_server_handled_total{${grpc}}`)})`, 'calls/s'),
      ]),
    )
    .withPanel(
      stat(
        ids,
        'gRPC server error ratio',
        `Share of unary calls that failed with a server-side code (${SERVER_ERROR_CODES}). The SLO allows 0.1 %.`,
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(`grpc_server_handled_total{${grpc}, ${unary}, ${serverErrors}}`)}) / sum(${rate(`grpc_server_handled_total{${grpc}, ${unary}}`)})`,
            'error ratio',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.001, color: 'orange' },
          { value: 0.01, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'gRPC p99 (unary)',
        'p99 latency of unary gRPC calls across all methods.',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.99, sum by (le) (${rate(`grpc_server_handling_seconds_bucket{${grpc}, ${unary}}`)}))`,
            'p99',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.1, color: 'orange' },
          { value: 0.25, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'HTTP 5xx ratio',
        'Share of HTTP requests answered with a 5xx status.',
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(`http_server_request_duration_seconds_count{${target}, status_code=~"5.."}`)}) / sum(${rate(`http_server_request_duration_seconds_count{${target}}`)})`,
            '5xx ratio',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.01, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Unhandled rejections',
        'Unhandled promise rejections in the time range: each one is a bug.',
        'none',
        [
          query(
            'A',
            `sum(increase(process_unhandled_rejections_total{${target}}[$__range]))`,
            'rejections',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
      ),
    );

  builder
    .withRow(new RowBuilder('gRPC: rate, errors, duration per method').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Calls/s by method',
        'Finished calls per second, by service and method.',
        'reqps',
        [
          query(
            'A',
            `sum by (grpc_service, grpc_method) (${rate(`grpc_server_handled_total{${grpc}}`)})`,
            '{{grpc_service}}/{{grpc_method}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Non-OK ratio by code',
        'Share of all calls that ended with each non-OK code. Client codes (InvalidArgument, Unauthenticated, ResourceExhausted...) are expected in small amounts.',
        'percentunit',
        [
          query(
            'A',
            `sum by (grpc_code) (${rate(`grpc_server_handled_total{${grpc}, grpc_code!="OK"}`)}) / ignoring (grpc_code) group_left sum(${rate(`grpc_server_handled_total{${grpc}}`)})`,
            '{{grpc_code}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Server error ratio by method',
        `Share of each method's calls that failed with ${SERVER_ERROR_CODES}.`,
        'percentunit',
        [
          query(
            'A',
            `sum by (grpc_service, grpc_method) (${rate(`grpc_server_handled_total{${grpc}, ${serverErrors}}`)}) / sum by (grpc_service, grpc_method) (${rate(`grpc_server_handled_total{${grpc}}`)})`,
            '{{grpc_service}}/{{grpc_method}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Latency by method (unary)',
        'p50, p95 and p99 from the grpc_server_handling_seconds histogram.',
        's',
        quantiles(
          'grpc_server_handling_seconds',
          'grpc_service, grpc_method',
          `${grpc}, ${unary}`,
          '{{grpc_method}}',
        ),
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Open calls and streams by method',
        'Started minus finished calls: for streaming methods this is the number of open streams.',
        'short',
        [
          query(
            'A',
            `sum by (grpc_service, grpc_method) (grpc_server_started_total{${grpc}}) - sum by (grpc_service, grpc_method) (grpc_server_handled_total{${grpc}})`,
            '{{grpc_service}}/{{grpc_method}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Stream messages/s by method',
        'Messages sent and received on streaming calls.',
        'short',
        [
          query(
            'A',
            `sum by (grpc_method) (${rate(`grpc_server_msg_sent_total{${grpc}, grpc_type!="unary"}`)})`,
            'sent {{grpc_method}}',
          ),
          query(
            'B',
            `sum by (grpc_method) (${rate(`grpc_server_msg_received_total{${grpc}, grpc_type!="unary"}`)})`,
            'received {{grpc_method}}',
          ),
        ],
      ),
    );

  builder
    .withRow(new RowBuilder('HTTP: rate, errors, duration per route').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Requests/s by route',
        'Requests per second by method and route template.',
        'reqps',
        [
          query(
            'A',
            `sum by (method, route) (${rate(`http_server_request_duration_seconds_count{${target}}`)})`,
            '{{method}} {{route}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        '5xx ratio by route',
        "Share of each route's requests answered with a 5xx status.",
        'percentunit',
        [
          query(
            'A',
            `sum by (route) (${rate(`http_server_request_duration_seconds_count{${target}, status_code=~"5.."}`)}) / sum by (route) (${rate(`http_server_request_duration_seconds_count{${target}}`)})`,
            '{{route}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Latency by route',
        'p50, p95 and p99 from the http_server_request_duration_seconds histogram.',
        's',
        quantiles('http_server_request_duration_seconds', 'route', target, '{{route}}'),
        8,
      ),
    );

  builder
    .withRow(new RowBuilder('Node.js runtime per pod').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Event loop lag p99',
        'p99 event loop delay since the previous scrape. Above ~50 ms every call on the pod waits.',
        's',
        [query('A', `max by (pod) (nodejs_eventloop_lag_p99_seconds{${target}})`, '{{pod}}')],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'CPU',
        'CPU used by the process, in cores. Node runs JavaScript on one core: near 1 means saturated.',
        'short',
        [query('A', `sum by (pod) (${rate(`process_cpu_seconds_total{${target}}`)})`, '{{pod}}')],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Time in GC',
        'Fraction of wall time spent in garbage collection, by GC kind.',
        'percentunit',
        [
          query(
            'A',
            `sum by (pod, kind) (${rate(`nodejs_gc_duration_seconds_sum{${target}}`)})`,
            '{{pod}} {{kind}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Heap used / total',
        'V8 heap in use and allocated. Used growing without falling back after GC suggests a leak.',
        'bytes',
        [
          query('A', `sum by (pod) (nodejs_heap_size_used_bytes{${target}})`, 'used {{pod}}'),
          query('B', `sum by (pod) (nodejs_heap_size_total_bytes{${target}})`, 'total {{pod}}'),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Resident memory',
        'RSS of the process: compare with the container memory limit.',
        'bytes',
        [query('A', `sum by (pod) (process_resident_memory_bytes{${target}})`, '{{pod}}')],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Shutdown phase',
        'Graceful shutdown progress per pod: running, draining, closing, exited.',
        'none',
        [query('A', `max by (pod) (shutdown_phase{${target}})`, '{{pod}}')],
        8,
      )
        .mappings(shutdownPhases)
        .max(3),
    );

  return builder.build();
}
