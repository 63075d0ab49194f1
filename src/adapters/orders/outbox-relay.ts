import type { StreamLog } from '../../domain/ports/stream-log.port.js';
import { counter, gauge, type Logger, type Registry } from '../../telemetry/index.js';
import type { Postgres } from '../postgres/index.js';

export interface RelayOptions {
  /** Outbox rows published per pass (a row is one event or one batch's events). Default 1,000. */
  readonly batchSize?: number;
  /** How often an idle relay looks for rows written by other processes. Default 500 ms. */
  readonly pollIntervalMs?: number;
  /** Wait after a failed pass (stream log or database down). Default 1,000 ms. */
  readonly retryDelayMs?: number;
  /** Shortest time between two passes when commits keep waking the relay. Default 5 ms. */
  readonly minIntervalMs?: number;
}

export interface OutboxRelayDeps {
  readonly postgres: Postgres;
  readonly streamLog: StreamLog;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * The oldest outbox rows, taken (deleted, until the transaction ends) and expanded to their
 * events in publish order, one result row per event: a row is one event (what releases before
 * migration 0004 write) or one batch's events as arrays, which PostgreSQL expands here
 * (cheaper than parsing arrays in JS). It walks the primary key in id order (bigints arrive as
 * text, without a cast: ordering by an id::text column sorted text, 1000000 before 999999),
 * and deletes by key (`= ANY` of an array: an `IN` subquery was planned as a hash join over a
 * sequential scan of the table and the dead rows it keeps between vacuums).
 *
 * One relay at a time across every pod publishes, so per-stream order holds: the rows are
 * taken only under a transaction-scoped advisory lock, keyed by schema too, so schemas sharing
 * a database (tenants, test runs) each have their own relay. Another relay's pass finds the
 * lock taken and takes nothing. Lock, read and delete are one statement: one round trip.
 */
const TAKE_EVENTS_SQL = `WITH relay AS (
    SELECT pg_try_advisory_xact_lock(
      hashtext(coalesce(current_schema(), '')), hashtext('outbox-relay')) AS locked
  ), o AS (
    DELETE FROM outbox WHERE id = ANY (ARRAY(
      SELECT id FROM outbox WHERE (SELECT locked FROM relay) ORDER BY id LIMIT $1))
    RETURNING *
  )
  SELECT o.id, e.stream, e.seq, e.payload
  FROM o CROSS JOIN LATERAL (
    SELECT o.stream, o.seq, o.payload, 1::bigint WHERE o.streams IS NULL
    UNION ALL
    SELECT * FROM unnest(o.streams, o.seqs, o.payloads) WITH ORDINALITY
  ) e (stream, seq, payload, n)
  ORDER BY o.id, e.n`;

/**
 * Publishes committed outbox rows to the stream log, oldest first, deleting them in the same
 * transaction: a pass that fails to publish rolls the delete back. Entries carry their seq as
 * id, so a pass that dies after publishing and before committing publishes the same rows
 * again harmlessly.
 */
export class OutboxRelay {
  readonly #batchSize: number;
  readonly #pollIntervalMs: number;
  readonly #retryDelayMs: number;
  readonly #minIntervalMs: number;
  readonly #pending;
  readonly #lag;
  readonly #published;
  readonly #failures;
  readonly #log: Logger;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;

  constructor(
    private readonly deps: OutboxRelayDeps,
    options: RelayOptions = {},
  ) {
    this.#batchSize = options.batchSize ?? 1_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#retryDelayMs = options.retryDelayMs ?? 1_000;
    this.#minIntervalMs = options.minIntervalMs ?? 5;
    this.#log = deps.logger.child({ component: 'outbox-relay' });
    this.#pending = gauge(deps.registry, {
      name: 'outbox_pending',
      help: 'Stream events committed to the outbox but not yet published to the stream log.',
    });
    this.#published = counter(deps.registry, {
      name: 'outbox_published_total',
      help: 'Stream events published from the outbox to the stream log.',
    });
    this.#failures = counter(deps.registry, {
      name: 'outbox_relay_failures_total',
      help: 'Relay passes that failed (database or stream log unreachable); retried.',
    });
    this.#lag = gauge(deps.registry, {
      name: 'outbox_lag_seconds',
      help: 'Age of the oldest unpublished outbox row (0 when none).',
    });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** A batch committed stream events: publish now rather than at the next poll. */
  notify(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Publishes what is left, then stops. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    try {
      while ((await this.#pass()).rows === this.#batchSize);
    } catch (error) {
      this.#log.warn({ err: error }, 'outbox relay could not publish before stopping');
    }
  }

  /** One pass; resolves to how many events it published (0 if another relay holds the lock). */
  async publishOnce(): Promise<number> {
    return (await this.#pass()).events;
  }

  /** Publishes up to a batch of rows; a full batch (`rows` = batch size) means more may wait. */
  #pass(): Promise<{ rows: number; events: number }> {
    return this.deps.postgres.withTransaction(async (tx) => {
      const { rows: events } = await tx.query<{
        id: string;
        stream: string;
        seq: string;
        payload: string;
      }>(TAKE_EVENTS_SQL, [this.#batchSize]);
      if (events.length === 0) return { rows: 0, events: 0 };
      await this.deps.streamLog.append(
        events.map((e) => ({ stream: e.stream, seq: Number(e.seq), payload: e.payload })),
      );
      this.#published.inc(events.length);
      return { rows: new Set(events.map((e) => e.id)).size, events: events.length };
    });
  }

  /** Refreshes `outbox_pending` (events) and `outbox_lag_seconds`. */
  async measure(): Promise<{ pending: number; lagSeconds: number }> {
    const { rows } = await this.deps.postgres.query<{ n: string; lag: string | null }>(
      `SELECT coalesce(sum(coalesce(cardinality(seqs), 1)), 0)::text AS n,
         EXTRACT(EPOCH FROM now() - min(created_at))::text AS lag FROM outbox`,
      [],
      { idempotent: true },
    );
    const pending = Number(rows[0]?.n ?? 0);
    const lagSeconds = Math.max(0, Number(rows[0]?.lag ?? 0));
    this.#pending.set(pending);
    this.#lag.set(lagSeconds);
    return { pending, lagSeconds };
  }

  async #run(): Promise<void> {
    let measuredAt = 0;
    while (this.#running) {
      let delay = this.#pollIntervalMs;
      let published = 0;
      try {
        this.#woken = false;
        published = (await this.#pass()).rows;
      } catch (error) {
        this.#failures.inc();
        this.#log.warn({ err: error }, 'outbox relay pass failed; retrying');
        delay = this.#retryDelayMs;
      }
      // Measured once per poll interval whatever the pass did, so the gauges keep moving while
      // the relay is failing or busy with full batches (that is when they matter).
      if (Date.now() - measuredAt >= this.#pollIntervalMs) {
        measuredAt = Date.now();
        await this.measure().catch((error: unknown) => {
          this.#log.debug({ err: error }, 'outbox measurement failed');
        });
      }
      if (published === this.#batchSize) continue;
      if (this.#woken && delay === this.#pollIntervalMs) {
        // Commits arrive every few ms under load: one pass per interval publishes them all
        // with less database work than one pass per commit.
        await new Promise((resolve) => setTimeout(resolve, this.#minIntervalMs));
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}
