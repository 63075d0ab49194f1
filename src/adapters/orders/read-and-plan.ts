import type { BookState } from '../../engine/index.js';
import type { Clock } from '../../domain/clock.js';
import { DomainError } from '../../domain/errors.js';
import type { Market } from '../../domain/orders/market.js';
import type { OrderCommand, Submitted } from '../../domain/orders/order-engine.port.js';
import { balanceLocks } from './balance-locks.js';
import { LostLeadership } from './batch-failure.js';
import { clientKey, planBatch, type BatchPlan, type CommandOutcome } from './batch-plan.js';
import type { BatchSteps } from './batch-steps.js';
import type { Written } from './pipelined-transaction.js';
import type { ShardBooks } from './shard-books.js';
import { openBatch, writePlan, type BatchClient } from './shard-store.postgres.js';

/** A command's answer, once its batch has committed. */
export type CommandResult = { ok: true; result: Submitted } | { ok: false; error: DomainError };

/** What a batch's commit brings its runner: its commands' answers and what to count. */
export interface PlannedBatch {
  /** One per command, in the batch's order. */
  readonly outcomes: CommandResult[];
  /** Trades by symbol. */
  readonly trades: Map<string, number>;
  /** Stream messages written to the outbox. */
  readonly messages: number;
  /** Ticker entries among the messages. */
  readonly tickers: number;
  /** Owners of orders that rested before the batch and are done now, one entry each. */
  readonly closedOwners: number[];
}

/** The shard a batch runs on. */
export interface BatchShard {
  readonly name: string;
  readonly epoch: number;
  readonly books: ShardBooks;
  readonly markets: ReadonlyMap<string, Market>;
  /** Which balances a batch locks when it begins (`balanceLocks`). */
  readonly lockScope: 'held' | 'touched';
  readonly clock: Clock;
  /** Symbols whose ticker the batch publishes whether or not it changes it, taken as it plans. */
  readonly takeDueTickers: () => ReadonlySet<string>;
}

/**
 * A batch's body inside its transaction: its first round trip (`openBatch`: the fencing epoch,
 * order ids, client order ids already used, the balance locks), then its plan in memory
 * (`planBatch`, which moves the books on), and its write, handed back unsent: the transaction
 * sends it once the batch ahead has committed (`pipelinedTransaction`). Throws
 * `LostLeadership` when another runner took the shard.
 */
export async function readAndPlan(
  tx: BatchClient,
  shard: BatchShard,
  commands: readonly OrderCommand[],
  steps: BatchSteps,
): Promise<Written<PlannedBatch>> {
  const { engine, open } = shard.books;
  const places = commands.filter((command) => command.kind === 'place');
  const opening = await openBatch(
    tx,
    shard.name,
    shard.epoch,
    places,
    balanceLocks({ engine, open, markets: shard.markets, commands, scope: shard.lockScope }),
  );
  steps.done('read');
  if (!opening.fenced) throw new LostLeadership();
  const { orderIds, existing } = opening;
  let next = 0;
  const plan = planBatch({
    engine,
    open,
    markets: shard.markets,
    available: opening.available,
    existing,
    commands: commands.map((command) =>
      command.kind === 'place' && !existing.has(clientKey(command.userId, command.clientOrderId))
        ? { command, newOrderId: orderIds[next++] ?? 0 }
        : { command },
    ),
    now: shard.clock.now(),
    tickers: shard.books.tickers,
    dueTickers: shard.takeDueTickers(),
  });
  const books = new Map<string, BookState>();
  for (const symbol of plan.touchedSymbols) {
    const book = engine.book(symbol);
    if (book !== undefined) books.set(symbol, book.state());
  }
  const trades = new Map<string, number>();
  for (const fill of plan.fills) trades.set(fill.symbol, (trades.get(fill.symbol) ?? 0) + 1);
  const result: PlannedBatch = {
    outcomes: plan.outcomes.map((outcome) => resultOf(outcome, plan, open)),
    trades,
    messages: plan.messages.length,
    tickers: plan.messages.filter((m) => m.stream.startsWith('ticker.')).length,
    closedOwners: plan.closedOwners,
  };
  steps.done('plan');
  return { result, write: (client) => writePlan(client, plan, books) };
}

/** A copy of the order as committed by this batch (later batches mutate the live record). */
function resultOf(
  outcome: CommandOutcome,
  plan: BatchPlan,
  open: ShardBooks['open'],
): CommandResult {
  if (!outcome.ok) return outcome;
  if ('replay' in outcome) return { ok: true, result: { result: outcome.replay, replayed: true } };
  const order =
    plan.inserted.get(outcome.orderId) ??
    plan.updated.get(outcome.orderId) ??
    open.get(outcome.orderId);
  if (order === undefined)
    return { ok: false, error: new DomainError('internal', 'order vanished') };
  return {
    ok: true,
    result: { result: { order: { ...order }, fills: outcome.fills }, replayed: false },
  };
}
