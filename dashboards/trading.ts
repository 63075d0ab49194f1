// The "Trading" dashboard: the order path from PlaceOrder to the streams. Orders by result,
// the api → engine call (ROLE=api), engine command latency and batching, fenced or failed batch
// transactions, shard leadership with its standbys, trades per symbol, the outbox relay that
// turns commits into stream messages, and the market simulator of ROLE=all. Read it top to
// bottom the way an order travels: api (orders_total) → internal gRPC (grpc_client_*,
// dependency="engine") → engine shard (engine_*) → commit (trades_total) → outbox relay
// (outbox_*) → Redis Streams.
//
// Every query uses metric names from docs/metrics.md ("trading"), plus
// engine_batches_total, outbox_published_total and outbox_relay_failures_total, which the
// engine and relay added with issue 6, and the metrics of the engine roles (grpc_client_*,
// engine_leader, open_order_quota_corrected_units_total) and of the simulator (simulator_*).
// No single process exposes all of them: the live test holds the dashboard to ROLE=all, api
// and engine together. The alerts in alerts/trading.rules.yml read the same series; their
// runbooks name the panels here.
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
  LineInterpolation,
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

export const TRADING_UID = 'trading-platform-trading';

/** Queries on per-shard metrics (engine_batches_total, engine_epoch) also narrow by shard. */
const sharded = `${target}, shard=~"$shard"`;

const leaderStates: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: { '0': { text: 'no leader', color: 'red', index: 0 } },
  },
];

const leaderRoles: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'standby', color: 'blue', index: 0 },
      '1': { text: 'leader', color: 'green', index: 1 },
    },
  },
];

const simulatorStates: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: {
      '0': { text: 'stopped', color: 'orange', index: 0 },
      '1': { text: 'running', color: 'green', index: 1 },
    },
  },
];

/** The api's calls to the engine (ROLE=api → ROLE=engine), as its gRPC client counts them. */
const engineCalls = `${target}, grpc_service="trading.internal.v1.EngineService"`;

/**
 * The engine's answers to a call it served (GrpcOrderEngine passes them on as domain errors):
 * the order was refused, as it would be in one process. Apart from these and OK, every code is
 * a failed call: Unavailable (unreachable, or a standby or stopped shard answering), DeadlineExceeded
 * and Canceled (the policy's timeout), Internal, Unknown, and Unimplemented or Unauthenticated
 * after a bad rollout or mTLS change. The alert TradingPlatformEngineCallsFailing splits alike.
 */
const ENGINE_REJECTIONS =
  'InvalidArgument|FailedPrecondition|NotFound|ResourceExhausted|AlreadyExists';
const ENGINE_ANSWERS = `OK|${ENGINE_REJECTIONS}`;
/** Order-entry answers that are the caller's problem, not the platform's. */
const CALLER_ERRORS = 'InvalidArgument|FailedPrecondition|NotFound|ResourceExhausted';

export function trading(): Dashboard {
  const ids = new PanelIds();
  // The api → engine and simulator rows and the standby and quota panels came after the first
  // version (ids 1-23): their ids start at 24, so links to the panels below them still work.
  const added = new PanelIds(24);
  // The order-entry row came after those (ids 1-35).
  const entryIds = new PanelIds(36);
  // Leadership losses and takeover durations came after that (ids 1-43).
  const takeoverIds = new PanelIds(44);
  const orders = (matchers = '') => `orders_total{${target}${matchers}}`;
  const batches = (result: string) => `engine_batches_total{${sharded}, result=~"${result}"}`;
  const engineHandled = (codes: string) =>
    `grpc_client_handled_total{${engineCalls}, grpc_code${codes}}`;
  const engineAll = `sum(${rate(`grpc_client_handled_total{${engineCalls}}`)})`;
  const simulated = (results: string) => `simulator_orders_total{${target}, result${results}}`;

  const builder = platformDashboard(
    'Trading platform / Trading',
    TRADING_UID,
    'Orders by result, the api → engine call, engine command latency and batching, failed and fenced batches, shard leadership, standbys, leadership losses and takeover durations, trades, the outbox relay that feeds the streams, and the market simulator.',
    ['trading-platform', 'trading', 'engine'],
  );
  for (const variable of targetVariables()) builder.withVariable(variable);
  builder.withVariable(labelValuesVariable('shard', 'Shard', `engine_epoch{${target}}`));

  builder
    .withRow(new RowBuilder('Overview').id(ids.take()))
    .withPanel(
      stat(
        ids,
        'Orders/s',
        'PlaceOrder calls per second, every result (accepted, replayed, rejected, failed).',
        'reqps',
        [query('A', `sum(${rate(orders())})`, 'orders/s')],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Order failure ratio',
        'Share of PlaceOrder calls that failed because the engine could not commit (result="failed": UNAVAILABLE, safe to retry). Rejections are the caller\'s problem and are not counted. Alert TradingPlatformOrderFailuresHigh at 1 %.',
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(orders(', result="failed"'))}) / sum(${rate(orders())})`,
            'failure ratio',
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
        'Place p99',
        'p99 of engine_command_seconds{kind="place"}: from the command reaching its shard to the reply, PostgreSQL commit included. The target for durable placement is under 25 ms.',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.99, sum by (le) (${rate(`engine_command_seconds_bucket{${target}, kind="place"}`)}))`,
            'p99',
          ),
        ],
        [
          { value: null, color: 'green' },
          { value: 0.025, color: 'orange' },
          { value: 0.1, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Leader epoch by shard',
        'Fencing epoch of each shard\'s current leader (the highest engine_epoch over pods). "no leader" means no process leads the shard: its symbols cannot trade (alert TradingPlatformEngineNoLeader).',
        'none',
        [query('A', `max by (shard) (engine_epoch{${sharded}})`, '{{shard}}')],
        [
          { value: null, color: 'red' },
          { value: 1, color: 'green' },
        ],
      )
        .mappings(leaderStates)
        .colorMode(BigValueColorMode.Background)
        .graphMode(BigValueGraphMode.None)
        .textMode(BigValueTextMode.ValueAndName),
    )
    .withPanel(
      stat(
        ids,
        'Failed or fenced batches',
        'Engine batch transactions that did not commit in the time range. failed: PostgreSQL refused the transaction, the books were rebuilt and the callers got UNAVAILABLE. fenced: another process had taken the shard, so this one stopped.',
        'none',
        [query('A', `sum(increase(${batches('failed|fenced')}[$__range]))`, 'failed or fenced')],
        [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
      ),
    )
    .withPanel(
      stat(
        ids,
        'Outbox lag',
        'Age of the oldest committed stream event not yet published to Redis Streams (every relay reports the same table, hence max). Normally well under a second; alert TradingPlatformOutboxLagHigh at 10 s.',
        's',
        [query('A', `max(outbox_lag_seconds{${target}})`, 'lag')],
        [
          { value: null, color: 'green' },
          { value: 2, color: 'orange' },
          { value: 10, color: 'red' },
        ],
      ),
    );

  builder
    .withRow(new RowBuilder('Orders').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Orders/s by result',
        'PlaceOrder outcomes: accepted, replayed (a repeated client_order_id, answered from the first result), rejected (bad input, balance, book rules) and failed (red: the engine could not commit).',
        'reqps',
        [
          query('A', `sum by (result) (${rate(orders(', result!="failed"'))})`, '{{result}}'),
          query('B', `sum(${rate(orders(', result="failed"'))})`, 'failed'),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Rejection and failure ratio',
        'rejected / all and failed / all PlaceOrder calls. Rejections rise with bad clients or a market running out of liquidity; failures (red) mean the engine or PostgreSQL is in trouble.',
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(orders(', result="rejected"'))}) / sum(${rate(orders())})`,
            'rejected',
          ),
          query(
            'B',
            `sum(${rate(orders(', result="failed"'))}) / sum(${rate(orders())})`,
            'failed',
          ),
        ],
      )
        .max(1)
        .overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Orders/s by side and type',
        'Accepted orders per second by side (buy, sell) and type (limit, market).',
        'reqps',
        [
          query(
            'A',
            `sum by (side, type) (${rate(orders(', result="accepted"'))})`,
            '{{side}} {{type}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Trades/s by symbol',
        'Trades committed per second, by symbol (one per fill). Orders accepted with no trades for long in a liquid market point at the book or the simulator.',
        'ops',
        [query('A', `sum by (symbol) (${rate(`trades_total{${target}}`)})`, '{{symbol}}')],
      ),
    );

  const entry = (matchers = '') => `order_entry_commands_total{${target}${matchers}}`;
  builder
    .withRow(new RowBuilder('Order entry streams').id(entryIds.take()))
    .withPanel(
      timeseries(
        entryIds,
        'Order-entry commands/s by code',
        `Commands answered on OrderEntry streams (one stream, many place/cancel/amend commands) per second, by command and status code. OK and the caller's errors (${CALLER_ERRORS}) are normal; every other code (red: Unavailable, Internal, ...) is a failed command, which also counts in orders_total{result="failed"} when it was a place. A bug ends the whole session with INTERNAL. Alert TradingPlatformOrderEntryCommandsFailing at 5 % for 5 minutes.`,
        'reqps',
        [
          query(
            'A',
            `sum by (command, code) (${rate(entry(`, code=~"OK|${CALLER_ERRORS}"`))})`,
            '{{command}} {{code}}',
          ),
          query(
            'B',
            `sum by (command, code) (${rate(entry(`, code!~"OK|${CALLER_ERRORS}"`))})`,
            '{{command}} {{code}}',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Order-entry command latency',
        'p50 and p99 of order_entry_command_seconds by command: from reading a command off the stream to its answer being ready (rate limit, engine, PostgreSQL commit). The target for durable placement is under 25 ms at p99.',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.5, sum by (le, command) (${rate(`order_entry_command_seconds_bucket{${target}}`)}))`,
            'p50 {{command}}',
          ),
          query(
            'B',
            `histogram_quantile(0.99, sum by (le, command) (${rate(`order_entry_command_seconds_bucket{${target}}`)}))`,
            'p99 {{command}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Open order-entry sessions by pod',
        'OrderEntry streams open on each pod. Market makers hold one or a few each; a drop to 0 on one pod with the others rising is a pod restart (clients reconnect elsewhere), a drop everywhere is the clients or the load balancer.',
        'short',
        [query('A', `sum by (pod) (order_entry_sessions{${target}})`, '{{pod}}')],
      ),
    );

  builder
    .withRow(new RowBuilder('api → engine').id(added.take()))
    .withPanel(
      timeseries(
        added,
        'Engine calls/s by code',
        "EngineService calls from ROLE=api per second, one per attempt (retries included), by gRPC code. OK and the engine's answers (InvalidArgument, FailedPrecondition, NotFound, ResourceExhausted, AlreadyExists: the order was refused, as in one process) are normal; every other code (red: Unavailable, DeadlineExceeded, Canceled by the timeout, Internal, Unknown, ...) is a failed call. Calls refused by an open breaker never reach the client and are not here. Empty under ROLE=all, where the engine is in-process.",
        'reqps',
        [
          query(
            'A',
            `sum by (grpc_code) (${rate(engineHandled(`=~"${ENGINE_ANSWERS}"`))})`,
            '{{grpc_code}}',
          ),
          query(
            'B',
            `sum by (grpc_code) (${rate(engineHandled(`!~"${ENGINE_ANSWERS}"`))})`,
            '{{grpc_code}}',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        added,
        'Engine call failure ratio',
        'Failed EngineService calls (red: any code but OK and the engine\'s answers) and the engine\'s answers (rejections) as shares of all calls. Alert TradingPlatformEngineCallsFailing at 5 % for 5 minutes; a placement that fails every attempt reaches the client as UNAVAILABLE and counts in orders_total{result="failed"}.',
        'percentunit',
        [
          query(
            'A',
            `sum(${rate(engineHandled(`=~"${ENGINE_REJECTIONS}"`))}) / ${engineAll}`,
            'answers (rejections)',
          ),
          query(
            'B',
            `sum(${rate(engineHandled(`!~"${ENGINE_ANSWERS}"`))}) / ${engineAll}`,
            'failed',
          ),
        ],
      )
        .max(1)
        .overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        added,
        'Engine call latency p50 / p99',
        'grpc_client_handling_seconds of EngineService: one attempt as the api sees it, from the call to its status (network, the engine\'s queue and batch commit). Compare with "Place latency" below (the engine\'s own view): the gap is the network and gRPC on both sides. ENGINE_TIMEOUT_MS (2 s by default) caps it.',
        's',
        (['0.5', '0.99'] as const).map((q, i) =>
          query(
            String.fromCharCode(65 + i),
            `histogram_quantile(${q}, sum by (le) (${rate(`grpc_client_handling_seconds_bucket{${engineCalls}}`)}))`,
            `p${String(Number(q) * 100)}`,
          ),
        ),
        8,
      ),
    )
    .withPanel(
      stateTimeline(
        added,
        'Engine breaker by pod',
        'The engine circuit breaker of each api pod (dependency="engine"). Open: PlaceOrder, CancelOrder and AmendOrder fail at once with UNAVAILABLE without calling the engine (alert TradingPlatformCircuitBreakerOpen). Half-open is entered on the first call after the open delay.',
        `max by (pod) (circuit_breaker_state{${target}, dependency="engine"})`,
        '{{pod}}',
        breakerStates,
        8,
      )
        .max(2)
        .thresholds(steps([null, 'green'], [1, 'yellow'], [2, 'red'])),
    )
    .withPanel(
      timeseries(
        added,
        'Engine retries/s and refused calls/s',
        'Retried engine attempts per second by api pod (places only: the client order id makes a repeat return the first result), and calls the open breaker refused without trying (red).',
        'ops',
        [
          query(
            'A',
            `sum by (pod) (${rate(`retries_total{${target}, dependency="engine"}`)})`,
            'retries {{pod}}',
          ),
          query(
            'B',
            `sum by (pod) (${rate(`dependency_request_seconds_count{${target}, dependency="engine", outcome="rejected"}`)})`,
            'refused {{pod}}',
          ),
        ],
        8,
      ).overrideByQuery('B', alarming),
    );

  builder
    .withRow(new RowBuilder('Engine').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Place latency p50 / p90 / p99',
        'engine_command_seconds{kind="place"}: from the command reaching its shard to the reply, including the wait for the batch and its PostgreSQL commit. Commit latency dominates; a rising p50 means PostgreSQL is slow, a rising p99 alone means big batches or pauses.',
        's',
        (['0.5', '0.9', '0.99'] as const).map((q, i) =>
          query(
            String.fromCharCode(65 + i),
            `histogram_quantile(${q}, sum by (le) (${rate(`engine_command_seconds_bucket{${target}, kind="place"}`)}))`,
            `p${String(Number(q) * 100)}`,
          ),
        ),
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Command latency p99 by kind',
        'p99 of engine_command_seconds per command kind (place, cancel, amend).',
        's',
        [
          query(
            'A',
            `histogram_quantile(0.99, sum by (kind, le) (${rate(`engine_command_seconds_bucket{${target}}`)}))`,
            '{{kind}}',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Batch size mean / p99',
        'Commands per committed batch transaction (one transaction writes orders, fills, balances and the outbox). Batches grow with load: that is how throughput scales past one transaction per order. Always 1 at high load means batching is off.',
        'short',
        [
          query(
            'A',
            `sum(${rate(`engine_batch_size_sum{${target}}`)}) / sum(${rate(`engine_batch_size_count{${target}}`)})`,
            'mean',
          ),
          query(
            'B',
            `histogram_quantile(0.99, sum by (le) (${rate(`engine_batch_size_bucket{${target}}`)}))`,
            'p99',
          ),
        ],
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Batches/s by shard and result',
        'Engine batch transactions per second. committed is normal; failed (red: PostgreSQL error, books rebuilt, callers got UNAVAILABLE) and fenced (red: another process took the shard, this one stopped) should be zero.',
        'ops',
        [
          query(
            'A',
            `sum by (shard, result) (${rate(batches('committed'))})`,
            '{{shard}} {{result}}',
          ),
          query(
            'B',
            `sum by (shard, result) (${rate(batches('failed|fenced'))})`,
            '{{shard}} {{result}}',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      timeseries(
        ids,
        'Leader epoch by shard and pod',
        "engine_epoch per shard and pod: the leader shows the shard's fencing epoch, every other process 0. A step up is a takeover (the new leader bumped the epoch); a shard with no pod above 0 has no leader.",
        'none',
        [query('A', `max by (shard, pod) (engine_epoch{${sharded}})`, '{{shard}} {{pod}}')],
        8,
      )
        .lineInterpolation(LineInterpolation.StepAfter)
        .decimals(0),
    )
    .withPanel(
      stateTimeline(
        added,
        'Leader and standbys by shard and pod',
        "engine_leader per shard and pod: the leader holds the shard's PostgreSQL advisory lock; a standby tries the lock every ENGINE_LEADER_POLL_MS and takes over when the leader's session ends. A shard with a leader and no standby has no hot standby (alert TradingPlatformEngineStandbyMissing); one with no leader cannot trade (TradingPlatformEngineNoLeader). Only processes that elect leaders report it (ROLE=engine, and ROLE=all on PostgreSQL).",
        `max by (shard, pod) (engine_leader{${sharded}})`,
        '{{shard}} {{pod}}',
        leaderRoles,
        8,
      )
        .max(1)
        .thresholds(steps([null, 'blue'], [1, 'green'])),
    )
    .withPanel(
      timeseries(
        takeoverIds,
        'Leadership lost in 15m by shard and reason',
        'engine_leadership_lost_total by shard and reason, over 15 minutes: times a leader stopped leading a shard without being asked. lease: PostgreSQL ended its lock session because it renewed nothing for ENGINE_LEADER_LEASE_MS (a paused, CPU-starved or stalled process); connection: the lock connection failed; start_failed: it took the lock but could not start serving. Each loss stops the shard until a standby takes over (next panel). Alert TradingPlatformEngineLeadershipFlapping at 3 in an hour.',
        'short',
        [
          query(
            'A',
            `sum by (shard, reason) (increase(engine_leadership_lost_total{${sharded}}[15m]))`,
            '{{shard}} {{reason}}',
          ),
        ],
        8,
      ).decimals(0),
    )
    .withPanel(
      timeseries(
        takeoverIds,
        'Takeover duration, longest in 15m by shard',
        "engine_takeover_seconds: per takeover, from the previous leader's last lease renewal to the new leader serving the shard with its books rebuilt, the time its symbols could not trade. A poll or two after a crash (the lock goes with the process), ENGINE_LEADER_LEASE_MS plus a poll after a pause (5-6 s by default); longer with more open orders to rebuild. Empty when no takeover happened.",
        's',
        [
          query(
            'A',
            `histogram_quantile(1, sum by (shard, le) (increase(engine_takeover_seconds_bucket{${sharded}}[15m])))`,
            '{{shard}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        added,
        'Quota units corrected at shard start',
        'open_order_quota_corrected_units_total by pod and kind: open-order quota units a new leader corrected against the open orders in PostgreSQL. leaked: counted without an open order (a process died between commit and release); missing: an open order without a unit. It moves once per shard taken, at start or takeover and usually before the first scrape, so this shows the counter itself, not a rate that would miss it. A step after a crash is expected; one after every clean restart points at a leak.',
        'short',
        [
          query(
            'A',
            `sum by (pod, kind) (open_order_quota_corrected_units_total{${target}})`,
            '{{pod}} {{kind}}',
          ),
        ],
        8,
      )
        .lineInterpolation(LineInterpolation.StepAfter)
        .decimals(0),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Repeated places held for the next batch',
        'engine_repeats_deferred_total by shard: places that repeated a client order id while its first attempt was still committing (a client or the api retrying quickly after a timeout). Each waits one batch and gets the stored order back. Harmless by itself; a steady rate means callers time out and retry faster than the engine commits: look at Place p99 and the api → engine timeout.',
        'ops',
        [
          query(
            'A',
            `sum by (shard) (${rate(`engine_repeats_deferred_total{${target}}`)})`,
            '{{shard}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Commands run again after a rolled-back batch',
        'engine_commands_retried_total by shard: commands whose batch rolled back through no fault of their own (the batch ahead failed, or another shard stored the same client order id or the same new balance row first) and that ran once more in the next batch instead of failing. Each waited one more batch. Bursts follow failed batches (engine_batches_total{result="failed"}); a steady rate without failures points at a client sending one client order id to two symbols at once.',
        'ops',
        [
          query(
            'A',
            `sum by (shard) (${rate(`engine_commands_retried_total{${target}}`)})`,
            '{{shard}}',
          ),
        ],
        8,
      ),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Commands the database refused, and their neighbours isolated',
        "engine_commands_refused_total by code and SQLSTATE: commands PostgreSQL refused for their own data once run alone (invalid_argument: 22xxx, a value it cannot store such as a NUL, or 23514 on an orders column, input the api's validation should have refused; internal, in red: another 23xxx, a constraint the engine should have kept: a bug, alert TradingPlatformEngineConstraintViolated). engine_commands_isolated_total by shard: the commands of their batches, run again in halves so that only the refused one failed. Any refusal means a validation gap or a bug: the 'engine command refused by the database' log line names the SQLSTATE, the user and the field.",
        'ops',
        [
          query(
            'A',
            `sum by (code, sqlstate) (${rate(`engine_commands_refused_total{${target}}`)})`,
            'refused {{code}} {{sqlstate}}',
          ),
          query(
            'B',
            `sum by (shard) (${rate(`engine_commands_isolated_total{${target}}`)})`,
            'isolated {{shard}}',
          ),
          query(
            'C',
            `sum(${rate(`engine_commands_refused_total{${target}, code="internal"}`)})`,
            'internal: a bug',
          ),
        ],
        8,
      ).overrideByQuery('C', alarming),
    )
    .withPanel(
      timeseries(
        entryIds,
        'Batch cycle by step: mean / p99',
        "engine_batch_step_seconds by step, committed batches: read (BEGIN, idempotency lookup, fencing, order ids, balance locks: one round trip), plan (JS, on the shard's event loop), wait (for the batch ahead's COMMIT), write (one statement), commit. The next batch starts when a write is done, so read + plan + wait + write is the cycle that bounds a shard's throughput; commit overlaps the next read. A growing read or write with a flat plan: PostgreSQL is slow or contended (Dependencies dashboard); a growing plan: the event loop is busy; a growing wait or commit: WAL flushes are slow (disk).",
        's',
        [
          query(
            'A',
            `sum by (step) (${rate(`engine_batch_step_seconds_sum{${target}}`)}) / sum by (step) (${rate(`engine_batch_step_seconds_count{${target}}`)})`,
            '{{step}} mean',
          ),
          query(
            'B',
            `histogram_quantile(0.99, sum by (step, le) (${rate(`engine_batch_step_seconds_bucket{${target}}`)}))`,
            '{{step}} p99',
          ),
        ],
        8,
      ),
    );

  builder
    .withRow(new RowBuilder('Outbox and streams').id(ids.take()))
    .withPanel(
      timeseries(
        ids,
        'Outbox pending rows',
        'Stream events committed with their orders but not yet published to Redis Streams. Every relay measures the same table, hence max. A line that only grows means the relay is stuck; see "Relay failed passes/s".',
        'short',
        [query('A', `max(outbox_pending{${target}})`, 'pending')],
        6,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Outbox lag',
        'Age of the oldest unpublished outbox row: how far the order, trade and book streams are behind the database. Refreshed after each successful relay pass, so it freezes while the relay fails.',
        's',
        [query('A', `max(outbox_lag_seconds{${target}})`, 'lag')],
        6,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Relay published rows/s',
        'Outbox rows published to Redis Streams per second, by pod. One relay publishes at a time (a PostgreSQL advisory lock), so the rate moves between pods.',
        'ops',
        [query('A', `sum by (pod) (${rate(`outbox_published_total{${target}}`)})`, '{{pod}}')],
        6,
      ),
    )
    .withPanel(
      timeseries(
        ids,
        'Relay failed passes/s',
        'Relay passes that failed (PostgreSQL or Redis unreachable, or a row Redis refuses), by pod. The relay retries every second; any sustained rate means the streams are not advancing (alert TradingPlatformOutboxRelayFailing).',
        'ops',
        [query('A', `sum by (pod) (${rate(`outbox_relay_failures_total{${target}}`)})`, '{{pod}}')],
        6,
      ).overrideByRegexp('.*', alarming),
    );

  builder
    .withRow(new RowBuilder('Market simulator').id(added.take()))
    .withPanel(
      timeseries(
        added,
        'Simulator actions/s by action and result',
        "Orders the built-in market simulator (ROLE=all with SIMULATOR_ENABLED) placed or canceled per second. ok; gone (a cancel of an order already filled or canceled); rejected (book or balance rules); throttled (open-order quota or rate limit); unavailable and failed (red: a dependency is down or slow, or anything else). The bots trade through the same use cases as clients, so red here follows the order path's trouble.",
        'ops',
        [
          query(
            'A',
            `sum by (action, result) (${rate(simulated('!~"unavailable|failed"'))})`,
            '{{action}} {{result}}',
          ),
          query(
            'B',
            `sum by (action, result) (${rate(simulated('=~"unavailable|failed"'))})`,
            '{{action}} {{result}}',
          ),
        ],
      ).overrideByQuery('B', alarming),
    )
    .withPanel(
      stateTimeline(
        added,
        'Simulator running by pod',
        'Whether the market simulator of each ROLE=all pod is placing orders. Pods with the simulator disabled (SIMULATOR_ENABLED=false, and every other role) report nothing.',
        `max by (pod) (simulator_running{${target}})`,
        '{{pod}}',
        simulatorStates,
        6,
      )
        .max(1)
        .thresholds(steps([null, 'orange'], [1, 'green'])),
    )
    .withPanel(
      timeseries(
        added,
        'Bot balance top-ups by asset',
        'Bot balances the simulator raised back to their target (when below half of it), per interval and asset. Targets cover thousands of the largest orders and holdings only drift as bots trade with each other, so top-ups are rare; a steady rate means a bot keeps losing one asset (a skewed price walk, or balances changed by hand).',
        'short',
        [
          query(
            'A',
            `sum by (asset) (increase(simulator_balance_topups_total{${target}}[$__rate_interval]))`,
            '{{asset}}',
          ),
        ],
        6,
      ),
    );

  return builder.build();
}
