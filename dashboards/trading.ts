// The "Trading" dashboard: the order path from PlaceOrder to the streams. Orders by result,
// engine command latency and batching, fenced or failed batch transactions, shard leadership,
// trades per symbol, and the outbox relay that turns commits into stream messages. Read it top
// to bottom the way an order travels: api (orders_total) → engine shard (engine_*) → commit
// (trades_total) → outbox relay (outbox_*) → Redis Streams.
//
// Every query uses metric names from the DESIGN.md catalog ("trading"), plus
// engine_batches_total, outbox_published_total and outbox_relay_failures_total, which the
// engine and relay added with issue 6. The alerts in alerts/trading.rules.yml read the same
// series; their runbooks name the panels here.
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
  labelValuesVariable,
  platformDashboard,
  query,
  rate,
  stat,
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

export function trading(): Dashboard {
  const ids = new PanelIds();
  const orders = (matchers = '') => `orders_total{${target}${matchers}}`;
  const batches = (result: string) => `engine_batches_total{${sharded}, result=~"${result}"}`;

  const builder = platformDashboard(
    'Trading platform / Trading',
    TRADING_UID,
    'Orders by result, engine command latency and batching, failed and fenced batches, shard leadership, trades, and the outbox relay that feeds the streams.',
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
        24,
      )
        .lineInterpolation(LineInterpolation.StepAfter)
        .decimals(0),
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

  return builder.build();
}
