// The "Connection quality" dashboard: how the stream clients' links are doing as the stream
// gateway measures them (heartbeat RTT, jitter, missed beats, the class each connection is in
// and its changes), and how the server protects itself from the bad ones (book deltas conflated
// into snapshots for poor links, slow consumers disconnected, bytes waiting to be sent), and
// how connections end (pongs that go astray, idle disconnects, WebSocket close reasons).
//
// Every query uses metric names from the DESIGN.md catalog ("connections", "sessions"). The
// alerts TradingPlatformStreamQualityPoor and TradingPlatformStreamSlowConsumers
// (alerts/streams.rules.yml) read the same series; their runbooks name the panels here.
//
// The v1 dashboard schema is deprecated in the SDK; see service-overview.ts for why it ships.
/* eslint-disable @typescript-eslint/no-deprecated */
import { RowBuilder, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import {
  PanelIds,
  alarming,
  labelValuesVariable,
  platformDashboard,
  query,
  rate,
  stat,
  target,
  targetVariables,
  timeseries,
} from './panels.js';

export const CONNECTION_QUALITY_UID = 'trading-platform-connection-quality';

/** Queries on per-connection metrics also narrow by the `transport` variable. */
const conn = `${target}, transport=~"$transport"`;

/** The classes a connection can be in, worst last (docs/protocol.md). */
const BAD = 'poor|offline';

const quantiles = (metric: string, matchers: string) =>
  [
    ['A', '0.5', 'p50'],
    ['B', '0.9', 'p90'],
    ['C', '0.99', 'p99'],
  ].map(([refId = '', q = '', legend = '']) =>
    query(
      refId,
      `histogram_quantile(${q}, sum by (le) (${rate(`${metric}_bucket{${matchers}}`)}))`,
      legend,
    ),
  );

export function connectionQuality(): Dashboard {
  const ids = new PanelIds();
  // The heartbeat answers and WebSocket closes row came after the first version (ids 1-21).
  const closeIds = new PanelIds(22);
  const laneIds = new PanelIds(27);
  const connections = (matchers = '') => `stream_connections{${conn}${matchers}}`;

  const builder = platformDashboard(
    'Trading platform / Connection quality',
    CONNECTION_QUALITY_UID,
    'Stream connections by transport and quality class, heartbeat RTT and jitter, missed heartbeats, class transitions, conflated messages, slow-consumer disconnects and send queue bytes; pongs by result, idle disconnects, WebSocket closes by reason and error frames.',
    ['trading-platform', 'streams', 'connections'],
  );
  for (const variable of targetVariables()) builder.withVariable(variable);
  builder.withVariable(
    labelValuesVariable('transport', 'Transport', `stream_connections{${target}}`),
  );

  builder
    .withRow(new RowBuilder('Overview').id(ids.take()))
    .withPanel(
      stat(
        ids,
        'Open streams',
        'Streams open on the selected pods right now, every transport and class.',
        'short',
        [query('A', `sum(${connections()})`, 'streams')],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Poor or offline share',
        'Share of open streams classed poor or offline (heartbeats late, lost or unanswered). Alert TradingPlatformStreamQualityPoor at 20 % of at least 20 streams for 10 minutes.',
        'percentunit',
        [
          query(
            'A',
            `sum(${connections(`, quality=~"${BAD}"`)}) / sum(${connections()})`,
            'poor or offline',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.05, color: 'orange' },
          { value: 0.2, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Heartbeat RTT p99',
        'p99 round-trip time from a server heartbeat to its pong, over every measured connection.',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.99, sum by (le) (${rate(`stream_connection_rtt_seconds_bucket{${conn}}`)}))`,
            'p99',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.3, color: 'orange' },
          { value: 1, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Slow-consumer disconnects',
        'Streams ended in the time range because the client fell too far behind (its send queue was full): RESOURCE_EXHAUSTED, the client reconnects and resumes.',
        'none',
        [
          query(
            'A',
            `sum(increase(stream_slow_consumer_disconnects_total{${target}}[$__range]))`,
            'disconnects',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'orange' },
          { value: 50, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Conflated messages',
        'Book deltas replaced by a snapshot in the time range because the link was too poor to take every delta.',
        'none',
        [
          query(
            'A',
            `sum(increase(stream_conflated_messages_total{${target}}[$__range]))`,
            'conflated',
          ),
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Send queue',
        'Payload bytes waiting to be written to stream clients on the selected pods right now.',
        'bytes',
        [query('A', `sum(stream_send_queue_bytes{${target}})`, 'queued')],
        [
          { value: null, color: 'green' },
          { value: 16 * 1024 * 1024, color: 'orange' },
          { value: 128 * 1024 * 1024, color: 'red' },
        ],
      ),
    )

    .withRow(new RowBuilder('Connections').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Streams by quality class',
        'Open streams by the class the heartbeats put each connection in (excellent, good, fair, poor, offline). Poor and offline together in red.',
        'short',
        [
          query('A', `sum by (quality) (${connections()})`, '{{quality}}'),
          query('B', `sum(${connections(`, quality=~"${BAD}"`)})`, 'poor or offline'),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Streams by transport',
        'Open streams by transport: native gRPC, gRPC-Web, Connect, WebSocket. A shift to WebSocket means networks block gRPC-Web.',
        'short',
        [query('A', `sum by (transport) (${connections()})`, '{{transport}}')],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Streams by pod',
        'Open streams per pod: uneven after a rollout until clients reconnect elsewhere; a pod at 0 while others carry everything is not receiving traffic.',
        'short',
        [query('A', `sum by (pod) (${connections()})`, '{{pod}}')],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Class changes/s by transition',
        'Connections moving from one quality class to another, per second. Many moves to poor or offline at once point at the network or the server, not at single clients.',
        'ops',
        [
          query(
            'A',
            `sum by (from, to) (${rate(`stream_quality_changes_total{${target}}`)})`,
            '{{from}} → {{to}}',
          ),
        ],
      ),
    )

    .withRow(new RowBuilder('Heartbeats').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Heartbeat RTT',
        "Round-trip time from a server heartbeat to the client's pong, p50/p90/p99 over every connection.",
        's',
        quantiles('stream_connection_rtt_seconds', conn),
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Jitter',
        'Variation between successive RTT measurements of a connection, p50/p90/p99. High jitter with normal RTT is a congested or wireless link.',
        's',
        quantiles('stream_connection_jitter_seconds', conn),
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Missed heartbeats/s',
        'Heartbeats that got no pong in time, per second, by pod. A connection that misses several in a row is classed offline.',
        'ops',
        [
          query(
            'A',
            `sum by (pod) (${rate(`stream_heartbeats_missed_total{${target}}`)})`,
            '{{pod}}',
          ),
        ],
        8,
      ),
    )

    .withRow(new RowBuilder('Back-pressure').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Conflated messages/s',
        'Book deltas the server folded into a snapshot for clients on poor links, per second, by pod.',
        'ops',
        [
          query(
            'A',
            `sum by (pod) (${rate(`stream_conflated_messages_total{${target}}`)})`,
            '{{pod}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Slow-consumer disconnects/s',
        'Streams ended because their client fell too far behind, per second, by pod. Alert TradingPlatformStreamSlowConsumers.',
        'ops',
        [
          query(
            'A',
            `sum by (pod) (${rate(`stream_slow_consumer_disconnects_total{${target}}`)})`,
            '{{pod}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Send queue bytes by pod',
        'Payload bytes waiting to be written to clients. Growing on every pod at once: the pods cannot write fast enough (CPU, event loop); on one pod: a few slow clients there.',
        'bytes',
        [query('A', `sum by (pod) (stream_send_queue_bytes{${target}})`, '{{pod}}')],
        8,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Messages sent/s by stream kind',
        'Messages handed to stream clients per second (book, trades, ticker, orders): the load the figures above are relative to.',
        'ops',
        [
          query(
            'A',
            `sum by (kind) (${rate(`stream_messages_sent_total{${target}}`)})`,
            '{{kind}}',
          ),
        ],
        12,
      ),
    )
    .withPanel(
      timeseries(
        laneIds,
        'Subscriptions written directly or queued',
        'Live subscriptions by how entries reach their client: direct (caught up, written in one pass per entry, the cheap path) or queued (their own send queue: starting, replaying, a client behind or conflated; gRPC, Connect and gRPC-Web streams always). Queued growing on /ws while connections hold steady: clients cannot keep up, or the pod cannot write fast enough (see the send queue).',
        'short',
        [query('A', `sum by (path) (stream_live_subscriptions{${target}})`, '{{path}}')],
        12,
      ),
    )

    .withRow(new RowBuilder('Heartbeat answers and WebSocket closes').id(closeIds.take()))
    .withPanel(
      timeseries(
        closeIds,
        'Pongs/s by result',
        'Answers to heartbeats, per second: accepted; late (not the heartbeat in flight: a slow or repeating client); unknown_session, in red (a Pong that reached a pod holding no stream of its session: over gRPC-Web the load balancer sends the unary Pong elsewhere, so enable stickiness, docs/protocol.md "Where a Pong must go"; such clients are then classed offline and cut at the idle timeout). Alert TradingPlatformStreamPongsMisrouted.',
        'ops',
        [
          query('A', `sum by (result) (${rate(`stream_pongs_total{${target}}`)})`, '{{result}}'),
          query(
            'B',
            `sum(${rate(`stream_pongs_total{${target}, result="unknown_session"}`)})`,
            'unknown_session',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        closeIds,
        'Idle disconnects/s by pod',
        'Streams closed UNAVAILABLE because their client answered no heartbeat for STREAM_IDLE_TIMEOUT_MS (35 s): dead clients, networks that dropped the connection silently, or pongs that go astray (unknown_session, left). Such clients reconnect with reason network.',
        'ops',
        [
          query(
            'A',
            `sum by (pod) (${rate(`stream_idle_disconnects_total{${target}}`)})`,
            '{{pod}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        closeIds,
        'WebSocket closes/s by reason',
        '/ws connections closed, per second, by reason (close codes in docs/protocol.md): client and going_away (a drain) are normal; the rest, also summed in red, are a client breaking the protocol (malformed_frame, text_frame, unknown_frame, message_too_big, frame_flood, too_many_connections), a token refused or expired (unauthenticated), or the stream failing (slow_consumer, unavailable, internal).',
        'ops',
        [
          query(
            'A',
            `sum by (reason) (${rate(`stream_websocket_closed_total{${target}}`)})`,
            '{{reason}}',
          ),
          query(
            'B',
            `sum(${rate(`stream_websocket_closed_total{${target}, reason!~"client|going_away"}`)})`,
            'abnormal',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        closeIds,
        'WebSocket error frames/s by code',
        "/ws frames refused with an error frame while the connection goes on, by code: invalid_argument (an unknown symbol), permission_denied (another user's stream), resource_exhausted (too many streams on a connection), failed_precondition (already open), unauthenticated (open_stream without a token). A client bug, or a client probing.",
        'ops',
        [
          query(
            'A',
            `sum by (code) (${rate(`stream_websocket_error_frames_total{${target}}`)})`,
            '{{code}}',
          ),
        ],
      ),
    );

  return builder.build();
}
