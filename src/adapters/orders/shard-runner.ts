import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { MatchingEngine, SelfTradePrevention } from '../../engine/index.js';
import type { Clock } from '../../domain/clock.js';
import { DomainError } from '../../domain/errors.js';
import type { Market } from '../../domain/orders/market.js';
import {
  NOT_LEADER_DEPENDENCY,
  type OrderCommand,
  type Submitted,
} from '../../domain/orders/order-engine.port.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import type { Postgres } from '../postgres/index.js';
import { batchFailure, failedBatchError, unavailable } from './batch-failure.js';
import { BatchQueue, type Pending } from './batch-queue.js';
import { BatchSteps } from './batch-steps.js';
import { engineMetrics } from './engine.metrics.js';
import {
  NOTHING_AHEAD,
  pipelinedTransaction,
  PreviousBatchFailed,
  type BatchOutcome,
} from './pipelined-transaction.js';
import { readAndPlan, type PlannedBatch } from './read-and-plan.js';
import { refusedCommandError, type Refusal } from './refused-command.js';
import { emptyShardBooks, loadShardBooks, type ShardBooks } from './shard-books.js';
import { ShardConnections } from './shard-connections.js';
import { bumpEpoch } from './shard-store.postgres.js';

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

type State = 'idle' | 'running' | 'stopping' | 'stopped';

const tracer = trace.getTracer('trading-platform/engine');

/** This process does not lead the shard (a standby, or a leader that stepped down). */
const notLeader = (shard: string) =>
  new DomainError('unavailable', `this engine process does not lead ${shard}; retry`, {
    dependency: NOT_LEADER_DEPENDENCY,
    retryAfterMs: 50,
  });

/** An error's message, bounded: PostgreSQL's can quote the refused value, of any size. */
const briefly = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 200);

/** What the drain loop waits for of a batch. */
interface BatchRun {
  /** Settles once the batch's writes are done (or it failed): the next batch may start. */
  readonly written: Promise<void>;
  readonly outcome: BatchOutcome;
}

/**
 * The single writer of one shard of symbols. Commands queue up (`BatchQueue` says which make
 * the next batch); each batch runs through the in-memory engine and commits in ONE PostgreSQL
 * transaction (orders, fills, balances, outbox; `readAndPlan`, `pipelinedTransaction`), and
 * only then are its callers answered. If a transaction fails, the in-memory books are ahead of
 * PostgreSQL, so they are rebuilt from it before the next batch, and its commands fail,
 * run again or are isolated as `batchFailure` says. A batch also publishes the tickers it
 * changed, and those due (a minute left a ticker's 24-hour window, checked every
 * `tickerRollCheckMs`, or the books were rebuilt): with no command queued, a batch of none.
 *
 * Batches are pipelined on the shard's connections (`ShardConnections`, two by default): once
 * batch N has written (only its COMMIT and the WAL flush are left), batch N+1 begins, reads
 * and plans on top of N's in-memory state while N commits; it writes only after N committed,
 * and rolls back if N did not. The balance rows N+1 locks in its read that N changed are read
 * once N has committed; N+1 starts only after N's last write, so N never waits for N+1 and the
 * two cannot deadlock.
 */
export class ShardRunner {
  readonly shard: string;
  #books: ShardBooks;
  /** Symbols whose ticker the next batch publishes whether or not it changes it. */
  readonly #tickersDue = new Set<string>();
  #stopRollCheck: (() => void) | undefined;
  #epoch = 0;
  #state: State = 'idle';
  #needsRecovery = false;
  readonly #queue = new BatchQueue();
  readonly #connections: ShardConnections;
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  /** Wakes the drain loop while it waits for the batch ahead to finish. */
  #arrived: (() => void) | undefined;
  readonly #markets: ReadonlyMap<string, Market>;
  readonly #metrics;
  readonly #log: Logger;

  constructor(private readonly options: ShardRunnerOptions) {
    this.shard = options.shard;
    this.#markets = new Map(options.markets.map((m) => [m.spec.symbol, m]));
    this.#books = emptyShardBooks(options.markets, options.selfTradePrevention);
    this.#connections = new ShardConnections({
      postgres: options.postgres,
      count: options.connections ?? 2,
      pipeline: options.pipeline ?? true,
    });
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
    return this.#books.engine;
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
        open_orders: this.#books.open.size,
        balance_locks: this.#lockScope,
      },
      'engine shard started',
    );
  }

  submit(command: OrderCommand): Promise<Submitted> {
    if (this.#state !== 'running') {
      return Promise.reject(notLeader(this.shard));
    }
    return new Promise((resolve, reject) => {
      this.#queue.add(command, resolve, reject);
      this.#schedule();
    });
  }

  /** Commits what is queued, then refuses new commands. */
  async stop(): Promise<void> {
    this.#stopRollCheck?.();
    if (this.#state === 'running') this.#state = 'stopping';
    if (this.#queue.size() > 0) void this.#drain();
    await this.#draining;
    this.#state = 'stopped';
    await this.#connections.close();
    this.#metrics.epoch.set({ shard: this.shard }, 0);
  }

  get #lockScope(): 'held' | 'touched' {
    return this.options.lockTouchedBalances === true ? 'touched' : 'held';
  }

  /** Marks the symbols whose window lost a minute since their last ticker; publishes them. */
  #rollTickers(): void {
    if (this.#state !== 'running') return;
    const now = this.options.clock.now().getTime();
    const rolled: string[] = [];
    for (const [symbol, ticker] of this.#books.tickers) {
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

  /** Whether a batch must run for tickers alone (a stopped shard publishes nothing more). */
  #tickersAreDue(): boolean {
    return this.#tickersDue.size > 0 && this.#state === 'running';
  }

  /** The due tickers, handed to one batch: if it fails, recovery makes every ticker due. */
  #takeDueTickers(): Set<string> {
    const due = new Set(this.#tickersDue);
    this.#tickersDue.clear();
    return due;
  }

  #schedule(): void {
    if (this.#draining !== undefined) {
      this.#arrived?.(); // the drain loop picks the queue up
      return;
    }
    if (this.#queue.size() >= this.options.maxBatchSize || this.options.maxBatchDelayMs <= 0) {
      void this.#drain();
      return;
    }
    this.#timer ??= setTimeout(() => void this.#drain(), this.options.maxBatchDelayMs);
  }

  /**
   * Runs batches until the queue is empty, each begun once the one ahead has written (and
   * committing after it), so that one batch reads and plans while the one ahead commits.
   */
  #drain(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#draining ??= (async () => {
      try {
        let ahead = NOTHING_AHEAD;
        for (;;) {
          if (this.#needsRecovery) {
            // The books are rebuilt (by the next batch) with nothing in flight.
            await ahead;
            ahead = NOTHING_AHEAD;
          }
          if (this.#queue.size() === 0 && !this.#tickersAreDue()) {
            // Until the batch ahead is over, a command that arrives starts the next batch.
            const arrived = new Promise<void>((resolve) => {
              this.#arrived = resolve;
            });
            await Promise.race([ahead, arrived]);
            this.#arrived = undefined;
            if (this.#queue.size() === 0 && !this.#tickersAreDue()) break;
            continue;
          }
          const batch = this.#takeBatch();
          if (batch.length === 0 && !this.#tickersAreDue()) {
            // All that is queued repeats places still committing: the next batch finds them.
            await ahead;
            ahead = NOTHING_AHEAD;
            continue;
          }
          const run = this.#runBatch(batch, ahead);
          this.#queue.committing(batch, run.outcome);
          await run.written;
          ahead = run.outcome;
          if (batch[0]?.group !== undefined) {
            // Expected to fail again, so nothing is planned on top of it.
            await ahead;
            ahead = NOTHING_AHEAD;
          }
        }
      } finally {
        this.#draining = undefined;
      }
    })();
    return this.#draining;
  }

  #takeBatch(): Pending[] {
    const { batch, heldRepeats } = this.#queue.take(this.options.maxBatchSize);
    if (heldRepeats > 0) {
      this.#metrics.deferred.inc({ shard: this.shard }, heldRepeats);
      this.#log.debug({ repeats: heldRepeats }, 'repeated places held for the next batch');
    }
    return batch;
  }

  #runBatch(batch: Pending[], ahead: BatchOutcome): BatchRun {
    let markWritten!: () => void;
    const written = new Promise<void>((resolve) => {
      markWritten = resolve;
    });
    const outcome = tracer.startActiveSpan('engine.batch', async (span) => {
      span.setAttributes({ 'engine.shard': this.shard, 'engine.batch_size': batch.length });
      try {
        if (this.#state === 'stopped') {
          throw unavailable(`engine shard ${this.shard} stopped`);
        }
        if (this.#needsRecovery) await this.#recover();
        const startedAt = performance.now();
        const steps = new BatchSteps();
        const turn = await this.#connections.next();
        const shard = {
          name: this.shard,
          epoch: this.#epoch,
          books: this.#books,
          markets: this.#markets,
          lockScope: this.#lockScope,
          clock: this.options.clock,
          takeDueTickers: () => this.#takeDueTickers(),
        };
        const commands = batch.map((item) => item.command);
        const planned = await pipelinedTransaction(
          turn,
          { ahead, steps, written: markWritten },
          (tx) => readAndPlan(tx, shard, commands, steps),
        );
        this.#committed(batch, planned, steps, span, performance.now() - startedAt);
        return true;
      } catch (error) {
        markWritten();
        // The batch behind this one must not see it settle before the one ahead of it has.
        await ahead;
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttributes(this.#fail(batch, error));
        return false;
      } finally {
        span.end();
      }
    });
    return { written, outcome };
  }

  /** Records a committed batch and answers its callers. */
  #committed(
    batch: readonly Pending[],
    planned: PlannedBatch,
    steps: BatchSteps,
    span: Span,
    elapsedMs: number,
  ): void {
    const { outcomes, trades, messages, tickers, closedOwners } = planned;
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
        commit_ms: Math.round(elapsedMs * 100) / 100,
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
  }

  #observe(item: Pending): void {
    const seconds = Number(process.hrtime.bigint() - item.startedAt) / 1e9;
    this.#metrics.commandSeconds.observe({ kind: item.command.kind }, seconds);
  }

  /**
   * Fails a batch's commands, or puts back those that may run again (`batchFailure`); returns
   * what the batch's span should say about it.
   */
  #fail(batch: Pending[], error: unknown): Attributes {
    this.#needsRecovery = true;
    const failure = batchFailure(error, batch);
    const fenced = failure.kind === 'fenced';
    this.#metrics.batches.inc({ shard: this.shard, result: fenced ? 'fenced' : 'failed' });
    if (failure.kind === 'refused') return this.#isolate(batch, failure.refusal, error);
    const retry = failure.kind === 'failed' ? failure.retry : [];
    if (fenced) {
      this.#state = 'stopped';
      this.#stopRollCheck?.();
      void this.#connections.close();
      this.#metrics.epoch.set({ shard: this.shard }, 0);
      this.#log.error({ epoch: this.#epoch }, 'engine shard lost leadership; stopping');
      for (const item of this.#queue.takeAll()) batch.push(item);
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
    if (retry.length > 0) {
      this.#queue.requeue(retry);
      this.#metrics.retried.inc({ shard: this.shard }, retry.length);
    }
    const rejection = failedBatchError(error);
    const again = new Set(retry);
    for (const item of batch) {
      if (again.has(item)) continue;
      this.#observe(item);
      item.reject(rejection);
    }
    return { 'engine.retried_commands': retry.length };
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
    this.#metrics.isolated.inc({ shard: this.shard }, this.#queue.isolate(batch));
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

  /**
   * Rebuilds every book and ticker of the shard from committed state, and makes every ticker
   * due: the last ones published may be of batches that rolled back.
   */
  async #recover(): Promise<void> {
    this.#books = await loadShardBooks(
      this.options.postgres,
      this.options.markets,
      this.options.selfTradePrevention,
      this.options.clock.now().getTime(),
    );
    for (const symbol of this.#books.tickers.keys()) this.#tickersDue.add(symbol);
    this.#needsRecovery = false;
  }
}
