import { SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { MatchingEngine, type BookState, type SelfTradePrevention } from '../../engine/index.js';
import type { Clock } from '../../domain/clock.js';
import { RollingTicker, windowStartMs } from '../../domain/market-data/rolling-ticker.js';
import { DomainError, isDomainError } from '../../domain/errors.js';
import type { Market } from '../../domain/orders/market.js';
import {
  NOT_LEADER_DEPENDENCY,
  type OrderCommand,
  type Submitted,
} from '../../domain/orders/order-engine.port.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import { sqlStateOf, type Postgres } from '../postgres/index.js';
import { clientKey, planBatch, type CommandOutcome, type MutableOrder } from './batch-plan.js';
import { balanceLocks } from './balance-locks.js';
import { engineMetrics } from './engine.metrics.js';
import { refusalOf, refusedCommandError, type Refusal } from './refused-command.js';
import type pg from 'pg';
import {
  bumpEpoch,
  type BatchClient,
  loadBook,
  loadTicker,
  openBatch,
  prepareBatchSession,
  writePlan,
} from './shard-store.postgres.js';

export interface BatchLimits {
  /** Commands per transaction; 1 gives the one-transaction-per-order baseline. */
  readonly maxBatchSize: number;
  /** How long an idle shard waits for more commands before committing the first one. */
  readonly maxBatchDelayMs: number;
  /**
   * Connections the shard pipelines its batches over (default 2: one batch commits while the
   * next begins). Use 1 on embedded PGlite: its connections share one session, so named
   * statements would collide, and its transactions run one at a time anyway.
   */
  readonly connections?: number;
  /**
   * Send a batch's statements without waiting for each answer (default true): BEGIN travels
   * with the first statement, and COMMIT with the write.
   * Use false on embedded PGlite, which runs one transaction at a time anyway.
   */
  readonly pipeline?: boolean;
}

export interface ShardRunnerOptions extends BatchLimits {
  readonly shard: string;
  readonly markets: readonly Market[];
  readonly selfTradePrevention: SelfTradePrevention;
  /**
   * Lock, when a batch begins, every balance it can change (default false: only the balances
   * it spends from). Needed when several shards can trade for one user, else their batches can
   * deadlock; costs a larger read (`balanceLocks` says why and what).
   */
  readonly lockTouchedBalances?: boolean;
  readonly postgres: Postgres;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Called after each commit that wrote stream events (wakes the outbox relay). */
  readonly onCommit?: () => void;
  /**
   * Called after a commit with the owners of orders that rested before the batch and are done
   * now (one entry per order), so their open-order quota can be given back.
   */
  readonly onOrdersClosed?: (userIds: readonly number[]) => void;
  /**
   * How often the tickers' 24-hour windows are checked for minutes that have left them
   * (default 1 s); a symbol whose window lost one publishes its ticker in a batch of its own.
   */
  readonly tickerRollCheckMs?: number;
}

interface Pending {
  readonly command: OrderCommand;
  readonly startedAt: bigint;
  /** Submission order: a command put back into the queue takes its place in it again. */
  readonly seq: number;
  /** Whether it already ran once in a batch that was rolled back (see `#fail`). */
  retried: boolean;
  /**
   * Set once the database refused its batch for one command's data: it then runs only in a
   * batch of its group, which is halved at each refusal until the command at fault runs alone.
   */
  group: number | undefined;
  readonly resolve: (submitted: Submitted) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * SQLSTATEs of a write that lost a race with another writer, rolled back, and that running
 * the batch again resolves: another shard committed the same (user, client order id) first
 * (unique violation; the new batch finds that order and replays it), or a deadlock.
 */
const LOST_RACE = new Set(['23505', '40P01']);

type State = 'idle' | 'running' | 'stopping' | 'stopped';

const tracer = trace.getTracer('trading-platform/engine');

/** This process does not lead the shard (a standby, or a leader that stepped down). */
const notLeader = (shard: string) =>
  new DomainError('unavailable', `this engine process does not lead ${shard}; retry`, {
    dependency: NOT_LEADER_DEPENDENCY,
    retryAfterMs: 50,
  });

const unavailable = (message: string, cause?: unknown) =>
  new DomainError('unavailable', message, { dependency: 'postgres', retryAfterMs: 100, cause });

class LostLeadership extends Error {}

/** An error's message, bounded: PostgreSQL's can quote the refused value, of any size. */
const briefly = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 200);

/** The batch before this one did not commit, and this one was planned on top of it. */
class PreviousBatchFailed extends Error {}

/**
 * How a batch ended, as the batch behind it sees it: true once it committed, false once it
 * failed. Never rejects.
 */
type Outcome = Promise<boolean>;

/** What the drain loop waits for of a batch. */
interface BatchRun {
  /** Settles once the batch's writes are done (or it failed): the next batch may start. */
  readonly written: Promise<void>;
  readonly outcome: Outcome;
}

/**
 * What a batch body hands back: its result, and its write statement, ready to send. The
 * transaction sends it, with COMMIT behind it when it may, in one socket write.
 */
interface Written<T> {
  readonly result: T;
  readonly write: (tx: BatchClient) => Promise<void>;
}

/** Where no batch is ahead: as if one had just committed. */
const NOTHING_AHEAD: Outcome = Promise.resolve(true);

/**
 * The steps of a batch's cycle, in order: its read (BEGIN, the idempotency lookup, fencing,
 * order ids, balance locks), planning in JS, waiting for the batch ahead to commit, its write,
 * its COMMIT. The next batch starts when the write is done.
 */
export const BATCH_STEPS = ['read', 'plan', 'wait', 'write', 'commit'] as const;
type BatchStep = (typeof BATCH_STEPS)[number];

/** How long each step of one batch took, in seconds, as it goes. */
class BatchSteps {
  readonly seconds = new Map<BatchStep, number>();
  #last = performance.now();

  /** The batch has its connection: the read starts now. */
  start(): void {
    this.#last = performance.now();
  }

  done(step: BatchStep): void {
    const now = performance.now();
    this.seconds.set(step, (now - this.#last) / 1000);
    this.#last = now;
  }
}

/**
 * The single writer of one shard of symbols. Commands queue up; each batch runs through the
 * in-memory engine and commits in ONE PostgreSQL transaction (orders, fills, balances, outbox),
 * and only then are its callers answered. If a transaction fails, the in-memory books are ahead
 * of PostgreSQL, so they are rebuilt from it before the next batch and the callers get
 * UNAVAILABLE (safe to retry: client order ids are idempotent), except when the database
 * refused one command's data: then that command alone fails (`#isolate`).
 *
 * Batches are pipelined on two connections: once batch N has written (only its COMMIT and the
 * WAL flush are left), batch N+1 begins, reads and plans on top of N's in-memory state while N
 * commits; it writes only after N committed (see `#transaction`), and rolls back if N did not.
 * The balance rows N+1 locks in its read that N changed are read once N has committed; N+1
 * starts only after N's last write, so N never waits for N+1 and the two cannot deadlock.
 *
 * The connections run in the driver's pipeline mode, so a batch costs two round trips, not
 * four: BEGIN is sent with the batch's first statement, and COMMIT with its write (if the
 * write fails, PostgreSQL turns that COMMIT into a rollback). Each round trip saved is also a
 * wait saved for this process's busy event loop, and the rows a batch locks are released as
 * soon as its write is done.
 */
export class ShardRunner {
  readonly shard: string;
  #engine: MatchingEngine;
  #open = new Map<number, MutableOrder>();
  /** Each symbol's ticker, rebuilt with the books. */
  #tickers = new Map<string, RollingTicker>();
  /** Symbols whose ticker the next batch publishes whether or not it changes it. */
  readonly #tickersDue = new Set<string>();
  #stopRollCheck: (() => void) | undefined;
  #epoch = 0;
  #state: State = 'idle';
  #needsRecovery = false;
  #queue: Pending[] = [];
  #submitted = 0;
  /** Isolation groups made so far, and how many of their commands are queued (`#isolate`). */
  #groups = 0;
  #isolating = 0;
  /** `clientKey`s of the places in batches that have not finished committing. */
  readonly #committing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  /** Connections of its own, used in turn, so one batch commits while the next begins. */
  readonly #clients: (pg.Client | undefined)[];
  /** Per connection: settles when the transaction last begun on it has ended. */
  readonly #ended: Promise<void>[];
  #turn = 0;
  /** Wakes the drain loop while it waits for the batch ahead to finish. */
  #arrived: (() => void) | undefined;
  readonly #markets: ReadonlyMap<string, Market>;
  readonly #metrics;
  readonly #log: Logger;

  constructor(private readonly options: ShardRunnerOptions) {
    this.shard = options.shard;
    this.#markets = new Map(options.markets.map((m) => [m.spec.symbol, m]));
    this.#engine = this.#newEngine();
    this.#clients = Array.from({ length: Math.max(1, options.connections ?? 2) }, () => undefined);
    this.#ended = this.#clients.map(() => Promise.resolve());
    this.#metrics = engineMetrics(options.registry);
    // Series from the start, so rate() sees the first increase.
    this.#metrics.deferred.inc({ shard: this.shard }, 0);
    this.#metrics.retried.inc({ shard: this.shard }, 0);
    this.#metrics.isolated.inc({ shard: this.shard }, 0);
    this.#log = options.logger.child({ component: 'engine', shard: options.shard });
  }

  get epoch(): number {
    return this.#epoch;
  }

  get engine(): MatchingEngine {
    return this.#engine;
  }

  /** Takes the shard (bumping its fencing epoch) and rebuilds its books from PostgreSQL. */
  async start(): Promise<void> {
    this.#epoch = await bumpEpoch(this.options.postgres, this.shard);
    await this.#recover();
    this.#state = 'running';
    this.#metrics.epoch.set({ shard: this.shard }, this.#epoch);
    const rollCheck = setInterval(() => {
      this.#rollTickers();
    }, this.options.tickerRollCheckMs ?? 1_000);
    rollCheck.unref();
    this.#stopRollCheck = () => {
      clearInterval(rollCheck);
    };
    // What was restored is published before the shard takes commands: the window may have
    // rolled while no one led, and the log then holds a ticker to snapshot from.
    await this.#drain();
    this.#log.info(
      {
        epoch: this.#epoch,
        symbols: [...this.#markets.keys()],
        open_orders: this.#open.size,
        balance_locks: this.options.lockTouchedBalances === true ? 'touched' : 'held',
      },
      'engine shard started',
    );
  }

  submit(command: OrderCommand): Promise<Submitted> {
    if (this.#state !== 'running') {
      return Promise.reject(notLeader(this.shard));
    }
    return new Promise((resolve, reject) => {
      const seq = this.#submitted++;
      const startedAt = process.hrtime.bigint();
      this.#queue.push({
        command,
        startedAt,
        seq,
        retried: false,
        group: undefined,
        resolve,
        reject,
      });
      this.#schedule();
    });
  }

  /** Commits what is queued, then refuses new commands. */
  async stop(): Promise<void> {
    this.#stopRollCheck?.();
    if (this.#state === 'running') this.#state = 'stopping';
    if (this.#queue.length > 0) void this.#drain();
    await this.#draining;
    this.#state = 'stopped';
    await this.#releaseClients();
    this.#metrics.epoch.set({ shard: this.shard }, 0);
  }

  /** Marks the symbols whose window lost a minute since their last ticker; publishes them. */
  #rollTickers(): void {
    if (this.#state !== 'running') return;
    const now = this.options.clock.now().getTime();
    const rolled: string[] = [];
    for (const [symbol, ticker] of this.#tickers) {
      const expiry = ticker.nextExpiryMs();
      if (expiry === undefined || expiry > now) continue;
      this.#tickersDue.add(symbol);
      rolled.push(symbol);
    }
    if (rolled.length > 0) this.#log.debug({ symbols: rolled }, 'ticker window rolled');
    this.#publishDueTickers();
  }

  /** Runs a batch for the due tickers, with whatever commands are queued by then. */
  #publishDueTickers(): void {
    if (this.#tickersDue.size === 0 || this.#state !== 'running') return;
    if (this.#draining !== undefined) this.#arrived?.();
    else void this.#drain();
  }

  #schedule(): void {
    if (this.#draining !== undefined) {
      this.#arrived?.(); // the drain loop picks the queue up
      return;
    }
    if (this.#queue.length >= this.options.maxBatchSize || this.options.maxBatchDelayMs <= 0) {
      void this.#drain();
      return;
    }
    this.#timer ??= setTimeout(() => void this.#drain(), this.options.maxBatchDelayMs);
  }

  #drain(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#draining ??= (async () => {
      try {
        let previous = NOTHING_AHEAD;
        for (;;) {
          if (this.#needsRecovery) {
            // The books are rebuilt (by the next batch) with nothing in flight.
            await previous;
            previous = NOTHING_AHEAD;
          }
          if (this.#queue.length === 0 && !this.#tickersAreDue()) {
            // Until the batch ahead is over, a command that arrives starts the next batch.
            const arrived = new Promise<void>((resolve) => {
              this.#arrived = resolve;
            });
            await Promise.race([previous, arrived]);
            this.#arrived = undefined;
            if (this.#queued() === 0 && !this.#tickersAreDue()) break;
            continue;
          }
          const batch = this.#takeBatch();
          if (batch.length === 0 && !this.#tickersAreDue()) {
            // All that is queued repeats places still committing: the next batch finds them.
            await previous;
            previous = NOTHING_AHEAD;
            continue;
          }
          const places = batch.flatMap(({ command }) =>
            command.kind === 'place' ? [clientKey(command.userId, command.clientOrderId)] : [],
          );
          for (const key of places) this.#committing.add(key);
          const run = this.#runBatch(batch, previous);
          void run.outcome.then(() => {
            for (const key of places) this.#committing.delete(key);
          });
          await run.written;
          previous = run.outcome;
          if (batch[0]?.group !== undefined) {
            // Expected to fail again, so nothing is planned on top of it.
            await previous;
            previous = NOTHING_AHEAD;
          }
        }
      } finally {
        this.#draining = undefined;
      }
    })();
    return this.#draining;
  }

  /**
   * The next batch: queued commands in order, except places that repeat a client order id
   * of a batch that has not committed yet (a client retrying quickly). This batch could not
   * see that order, would insert it again and fail on the unique key, failing every command
   * with it; held for a later batch, the repeat finds the order stored and gets it back.
   * While commands of a refused batch are being isolated (`#isolate`), a batch is one
   * isolation group, taken before anything else.
   */
  #takeBatch(): Pending[] {
    const max = this.options.maxBatchSize;
    if (this.#committing.size === 0 && this.#isolating === 0) return this.#queue.splice(0, max);
    // An isolation group runs before anything else, as a batch of its own.
    const group =
      this.#isolating === 0
        ? undefined
        : this.#queue.find((item) => item.group !== undefined)?.group;
    const batch: Pending[] = [];
    const held: Pending[] = [];
    let repeats = 0;
    for (const item of this.#queue) {
      const repeat = this.#repeatsCommitting(item.command);
      if (repeat) repeats += 1;
      if (batch.length < max && !repeat && item.group === group) batch.push(item);
      else held.push(item);
    }
    if (group !== undefined) this.#isolating -= batch.length;
    if (repeats > 0) {
      this.#metrics.deferred.inc({ shard: this.shard }, repeats);
      this.#log.debug({ repeats }, 'repeated places held for the next batch');
    }
    this.#queue = held;
    return batch;
  }

  #repeatsCommitting(command: OrderCommand): boolean {
    return (
      command.kind === 'place' &&
      this.#committing.has(clientKey(command.userId, command.clientOrderId))
    );
  }

  /** A method, not a read of `#queue.length`, which the compiler would think unchanged. */
  #queued(): number {
    return this.#queue.length;
  }

  /** Whether a batch must run for tickers alone (a stopped shard publishes nothing more). */
  #tickersAreDue(): boolean {
    return this.#tickersDue.size > 0 && this.#state === 'running';
  }

  #runBatch(batch: Pending[], previous: Outcome): BatchRun {
    let markWritten!: () => void;
    const written = new Promise<void>((resolve) => {
      markWritten = resolve;
    });
    const committed = tracer.startActiveSpan('engine.batch', async (span) => {
      span.setAttributes({ 'engine.shard': this.shard, 'engine.batch_size': batch.length });
      try {
        if (this.#state === 'stopped') {
          throw unavailable(`engine shard ${this.shard} stopped`);
        }
        if (this.#needsRecovery) await this.#recover();
        const startedAt = performance.now();
        const steps = new BatchSteps();
        const { outcomes, trades, messages, tickers, closedOwners } = await this.#commit(
          batch,
          previous,
          markWritten,
          steps,
        );
        const tradeCount = [...trades.values()].reduce((sum, n) => sum + n, 0);
        span.setAttributes({
          'engine.trades': tradeCount,
          'engine.tickers': tickers,
          'engine.epoch': this.#epoch,
        });
        for (const [step, seconds] of steps.seconds) {
          this.#metrics.batchStepSeconds.observe({ shard: this.shard, step }, seconds);
          span.setAttribute(`engine.${step}_ms`, Math.round(seconds * 1e5) / 100);
        }
        this.#log.debug(
          {
            batch_size: batch.length,
            trades: tradeCount,
            tickers,
            messages,
            commit_ms: Math.round((performance.now() - startedAt) * 100) / 100,
          },
          'engine batch committed',
        );
        // A batch that only publishes tickers is no batch of commands.
        if (batch.length > 0) this.#metrics.batchSize.observe(batch.length);
        this.#metrics.batches.inc({ shard: this.shard, result: 'committed' });
        for (const [symbol, count] of trades) this.#metrics.trades.inc({ symbol }, count);
        if (messages > 0) this.options.onCommit?.();
        if (closedOwners.length > 0) this.options.onOrdersClosed?.(closedOwners);
        batch.forEach((item, i) => {
          const outcome = outcomes[i];
          this.#observe(item);
          if (outcome === undefined) item.reject(new DomainError('internal', 'no outcome'));
          else if (outcome.ok) item.resolve(outcome.result);
          else item.reject(outcome.error);
        });
        return true;
      } catch (error) {
        markWritten();
        // The batch behind this one must not see it settle before the one ahead of it has.
        await previous;
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttributes(this.#fail(batch, error));
        return false;
      } finally {
        span.end();
      }
    });
    return { written, outcome: committed };
  }

  #observe(item: Pending): void {
    const seconds = Number(process.hrtime.bigint() - item.startedAt) / 1e9;
    this.#metrics.commandSeconds.observe({ kind: item.command.kind }, seconds);
  }

  /**
   * Fails a batch's commands, or puts back those that may run again; returns what the batch's
   * span should say about it.
   */
  #fail(batch: Pending[], error: unknown): Attributes {
    this.#needsRecovery = true;
    const fenced = error instanceof LostLeadership;
    this.#metrics.batches.inc({ shard: this.shard, result: fenced ? 'fenced' : 'failed' });
    // A batch that certainly rolled back through no fault of its own runs once more, after the
    // books are rebuilt, instead of failing its callers. Only once: a cause that persists (a
    // bug that trips a constraint every time) is not retried forever.
    const retry =
      error instanceof PreviousBatchFailed || LOST_RACE.has(sqlStateOf(error) ?? '')
        ? batch.filter((item) => !item.retried)
        : [];
    const refusal = fenced || retry.length > 0 ? undefined : refusalOf(error);
    if (refusal !== undefined) return this.#isolate(batch, refusal, error);
    if (fenced) {
      this.#state = 'stopped';
      this.#stopRollCheck?.();
      void this.#releaseClients();
      this.#metrics.epoch.set({ shard: this.shard }, 0);
      this.#log.error({ epoch: this.#epoch }, 'engine shard lost leadership; stopping');
      for (const item of this.#queue.splice(0)) batch.push(item);
      this.#isolating = 0;
    } else if (error instanceof PreviousBatchFailed) {
      this.#log.warn(
        { batch_size: batch.length, retried: retry.length },
        'engine batch rolled back: the batch before it failed',
      );
    } else {
      this.#log.warn(
        { err: error, batch_size: batch.length, retried: retry.length },
        'engine batch failed; rebuilding books',
      );
    }
    if (retry.length > 0) this.#requeue(retry);
    const failure =
      isDomainError(error) && error.code === 'unavailable'
        ? error
        : unavailable(
            'the order could not be committed; retry with the same client_order_id',
            error,
          );
    const again = new Set(retry);
    for (const item of batch) {
      if (again.has(item)) continue;
      this.#observe(item);
      item.reject(failure);
    }
    return { 'engine.retried_commands': retry.length };
  }

  /** Puts commands back into the queue, each at its place in submission order. */
  #requeue(items: Pending[]): void {
    for (const item of items) item.retried = true;
    this.#putBack(items);
    this.#metrics.retried.inc({ shard: this.shard }, items.length);
  }

  #putBack(items: Pending[]): void {
    this.#queue = [...items, ...this.#queue].sort((a, b) => a.seq - b.seq);
  }

  /**
   * The database refused the batch for one command's data: its commands run again in two
   * halves, each a batch of its own, and so on at each refusal, until the command at fault runs
   * alone and is failed by itself. Its neighbours are committed instead of failing with it, at
   * the cost of a few more batches (and book rebuilds) on this path only.
   */
  #isolate(batch: Pending[], refusal: Refusal, error: unknown): Attributes {
    const attributes = {
      'engine.refused_sqlstate': refusal.sqlState,
      'engine.isolated_commands': batch.length,
    };
    const [only] = batch;
    if (only !== undefined && batch.length === 1) {
      this.#refuse(only, refusal, error);
      return attributes;
    }
    const fresh = batch.filter((item) => item.group === undefined).length;
    const half = Math.ceil(batch.length / 2);
    const [first, second] = [this.#groups++, this.#groups++];
    batch.forEach((item, i) => {
      item.group = i < half ? first : second;
    });
    this.#isolating += batch.length;
    this.#putBack(batch);
    this.#metrics.isolated.inc({ shard: this.shard }, fresh);
    this.#log.warn(
      { sql_state: refusal.sqlState, batch_size: batch.length, error: briefly(error) },
      'engine batch refused by the database; running its commands in halves to find the one at fault',
    );
    return attributes;
  }

  #refuse(item: Pending, refusal: Refusal, error: unknown): void {
    const answer = refusedCommandError(refusal, error);
    // `code` tells the caller's bad data (invalid_argument) from a bug (internal): alerts split on it.
    this.#metrics.refused.inc({ shard: this.shard, sqlstate: refusal.sqlState, code: answer.code });
    // Bad input is the caller's; a broken constraint is a bug of the platform's.
    this.#log[refusal.kind === 'bad-input' ? 'warn' : 'error'](
      {
        sql_state: refusal.sqlState,
        field: refusal.field,
        kind: item.command.kind,
        user_id: item.command.userId,
        error: briefly(error),
      },
      'engine command refused by the database; failed alone',
    );
    this.#observe(item);
    item.reject(answer);
  }

  async #commit(
    batch: Pending[],
    previous: Outcome,
    markWritten: () => void,
    steps: BatchSteps,
  ): Promise<{
    outcomes: ({ ok: true; result: Submitted } | { ok: false; error: DomainError })[];
    trades: Map<string, number>;
    messages: number;
    /** Ticker entries among the messages. */
    tickers: number;
    closedOwners: number[];
  }> {
    const { clock } = this.options;
    return this.#transaction(previous, markWritten, steps, async (tx) => {
      const places = batch.flatMap((item) => (item.command.kind === 'place' ? [item.command] : []));
      const opening = await openBatch(
        tx,
        this.shard,
        this.#epoch,
        places,
        balanceLocks({
          engine: this.#engine,
          open: this.#open,
          markets: this.#markets,
          commands: batch.map((item) => item.command),
          scope: this.options.lockTouchedBalances === true ? 'touched' : 'held',
        }),
      );
      steps.done('read');
      if (!opening.fenced) throw new LostLeadership();
      const { orderIds: ids, existing } = opening;
      let next = 0;
      const plan = planBatch({
        engine: this.#engine,
        open: this.#open,
        markets: this.#markets,
        available: opening.available,
        existing,
        commands: batch.map(({ command }) =>
          command.kind === 'place' &&
          !existing.has(clientKey(command.userId, command.clientOrderId))
            ? { command, newOrderId: ids[next++] ?? 0 }
            : { command },
        ),
        now: clock.now(),
        tickers: this.#tickers,
        dueTickers: this.#takeDueTickers(),
      });
      const books = new Map<string, BookState>();
      for (const symbol of plan.touchedSymbols) {
        const book = this.#engine.book(symbol);
        if (book !== undefined) books.set(symbol, book.state());
      }
      const trades = new Map<string, number>();
      for (const fill of plan.fills) trades.set(fill.symbol, (trades.get(fill.symbol) ?? 0) + 1);
      const result = {
        outcomes: plan.outcomes.map((outcome) =>
          this.#result(outcome, plan.inserted, plan.updated),
        ),
        trades,
        messages: plan.messages.length,
        tickers: plan.messages.filter((m) => m.stream.startsWith('ticker.')).length,
        closedOwners: plan.closedOwners,
      };
      steps.done('plan');
      return { result, write: (client) => writePlan(client, plan, books) };
    });
  }

  /**
   * BEGIN … COMMIT on one of the shard's own connections, committing only after the batch
   * ahead (`previous`) has. A single writer gains nothing from a pool round trip per batch, and
   * connections of its own keep the named batch statements prepared. A connection that cannot
   * even roll back is dropped and replaced. `fn` sends the batch's statements and hands back
   * its write in flight, so that COMMIT can follow it without waiting for its answer.
   */
  async #transaction<T>(
    previous: Outcome,
    markWritten: () => void,
    steps: BatchSteps,
    fn: (tx: BatchClient) => Promise<Written<T>>,
  ): Promise<T> {
    const turn = this.#turn;
    this.#turn = (turn + 1) % this.#clients.length;
    // The batch that last used this connection may still be waiting to COMMIT (behind the
    // batch ahead of it): a BEGIN sent now would run inside its transaction.
    const ended = this.#ended[turn];
    let end!: () => void;
    this.#ended[turn] = new Promise<void>((resolve) => {
      end = resolve;
    });
    await ended;
    let client: pg.Client;
    try {
      client = this.#clients[turn] ??= await this.#connect();
    } catch (error) {
      end();
      throw error;
    }
    try {
      steps.start();
      const { result, write: send } = await this.#begin(client, fn);
      // The read went ahead while the batch ahead was committing; the write must not. A
      // statement sees what was committed when it began: it would update nothing in an order
      // that batch inserted (placed there, filled here), and a debit to a row that batch
      // changed is checked against the row as it was before (PostgreSQL checks a new row's
      // constraints before it waits for the row), which fails the batch.
      if (!(await previous)) throw new PreviousBatchFailed();
      steps.done('wait');
      const [write, commitBehind] = this.#together(client, () => [
        send(client),
        this.#pipeline ? client.query('COMMIT') : undefined,
      ]);
      try {
        await write;
      } catch (error) {
        // The failed write turned that COMMIT into a rollback: let it settle before ROLLBACK.
        await commitBehind?.catch(() => undefined);
        throw error;
      }
      steps.done('write');
      markWritten();
      await (commitBehind ?? client.query('COMMIT'));
      steps.done('commit');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        this.#clients[turn] = undefined;
        void client.end().catch(() => undefined);
      }
      throw error;
    } finally {
      end();
    }
  }

  /** BEGIN, then the batch body; pipelined, BEGIN travels with the body's first statement. */
  async #begin<T>(
    client: pg.Client,
    fn: (tx: BatchClient) => Promise<Written<T>>,
  ): Promise<Written<T>> {
    if (!this.#pipeline) {
      await client.query('BEGIN');
      return fn(client);
    }
    const [begun, body] = this.#together(client, () => [client.query('BEGIN'), fn(client)]);
    begun.catch(() => undefined); // reported below: it is answered before the body's statements
    const written = await body;
    await begun;
    return written;
  }

  /**
   * Sends the statements `issue` makes (synchronously, as an async function does up to its
   * first `await`) in one socket write. node-postgres writes each statement on its own, and a
   * batch's six (BEGIN with the read's three, then the write and COMMIT) cost six system
   * calls, each of which also wakes the backend. Only pipelined connections send before an
   * answer.
   */
  #together<T>(client: pg.Client, issue: () => T): T {
    if (!this.#pipeline) return issue();
    const socket = client.connection.stream;
    socket.cork();
    try {
      return issue();
    } finally {
      socket.uncork();
    }
  }

  get #pipeline(): boolean {
    return this.options.pipeline ?? true;
  }

  async #connect(): Promise<pg.Client> {
    const client = await this.options.postgres.connectDedicated({ pipeline: this.#pipeline });
    try {
      await prepareBatchSession(client);
      return client;
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
  }

  /** Ends the shard's connections; resolves once they are closed (never rejects). */
  async #releaseClients(): Promise<void> {
    const clients = this.#clients.flatMap((client) => (client === undefined ? [] : [client]));
    this.#clients.fill(undefined);
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  /** A copy of the order as committed by this batch (later batches mutate the live record). */
  #result(
    outcome: CommandOutcome,
    inserted: ReadonlyMap<number, MutableOrder>,
    updated: ReadonlyMap<number, MutableOrder>,
  ): { ok: true; result: Submitted } | { ok: false; error: DomainError } {
    if (!outcome.ok) return outcome;
    if ('replay' in outcome)
      return { ok: true, result: { result: outcome.replay, replayed: true } };
    const order =
      inserted.get(outcome.orderId) ??
      updated.get(outcome.orderId) ??
      this.#open.get(outcome.orderId);
    if (order === undefined)
      return { ok: false, error: new DomainError('internal', 'order vanished') };
    return {
      ok: true,
      result: { result: { order: { ...order }, fills: outcome.fills }, replayed: false },
    };
  }

  #newEngine(): MatchingEngine {
    return new MatchingEngine(
      this.options.markets.map((m) => m.spec),
      { selfTradePrevention: this.options.selfTradePrevention, emitLevelChanges: true },
    );
  }

  /** The due tickers, handed to one batch: if it fails, recovery makes every ticker due. */
  #takeDueTickers(): Set<string> {
    const due = new Set(this.#tickersDue);
    this.#tickersDue.clear();
    return due;
  }

  /**
   * Rebuilds every book and ticker of the shard from committed state (one consistent snapshot),
   * and makes every ticker due: the last ones published may be of batches that rolled back.
   */
  async #recover(): Promise<void> {
    const since = windowStartMs(this.options.clock.now().getTime());
    const loaded = await this.options.postgres.withTransaction(
      async (tx) => {
        const symbols = [];
        for (const market of this.#markets.values()) {
          const { symbol } = market.spec;
          symbols.push({
            book: await loadBook(tx, symbol),
            ticker: await loadTicker(tx, symbol, since, market.quoteMinorPerTickLot),
          });
        }
        return symbols;
      },
      { isolation: 'repeatable read' },
    );
    const engine = this.#newEngine();
    const open = new Map<number, MutableOrder>();
    const tickers = new Map<string, RollingTicker>();
    for (const { book, ticker } of loaded) {
      engine.restoreBook(book.symbol, book.openOrders, book.state);
      for (const order of book.orders) open.set(order.id, order);
      tickers.set(book.symbol, new RollingTicker(ticker));
      this.#tickersDue.add(book.symbol);
    }
    this.#engine = engine;
    this.#open = open;
    this.#tickers = tickers;
    this.#needsRecovery = false;
  }
}
