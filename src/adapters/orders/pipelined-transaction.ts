import type pg from 'pg';
import type { BatchSteps } from './batch-steps.js';
import type { ConnectionTurn } from './shard-connections.js';
import type { BatchClient } from './shard-store.postgres.js';

/**
 * How a batch ended, as the batch behind it sees it: true once it committed, false once it
 * failed. Never rejects.
 */
export type BatchOutcome = Promise<boolean>;

/** Where no batch is ahead: as if one had just committed. */
export const NOTHING_AHEAD: BatchOutcome = Promise.resolve(true);

/** The batch before this one did not commit, and this one was planned on top of it. */
export class PreviousBatchFailed extends Error {}

/**
 * What a batch body hands back: its result, and its write statement, ready to send. The
 * transaction sends it, with COMMIT behind it when it may, in one socket write.
 */
export interface Written<T> {
  readonly result: T;
  readonly write: (tx: BatchClient) => Promise<void>;
}

export interface PipelinedTransactionOptions {
  /** How the batch ahead ends: this one writes only once it has committed. */
  readonly ahead: BatchOutcome;
  readonly steps: BatchSteps;
  /** Called once the write is done (or failed): the next batch may begin meanwhile. */
  readonly written: () => void;
}

/**
 * BEGIN … COMMIT of one batch on its connection's turn, committing only after the batch
 * ahead has. On a pipelined connection (node-postgres' pipeline mode) a batch is two round
 * trips instead of four: BEGIN is sent with the body's first statement, and COMMIT with its
 * write (if the write fails, PostgreSQL turns that COMMIT into a rollback). Each round trip
 * saved is also a wait saved for this process's busy event loop, and the rows a batch locks
 * are released as soon as its write is done.
 *
 * `body` sends the batch's reads and hands back its write, not yet sent. Its reads go ahead
 * while the batch ahead is committing; its write must not. A statement sees what was
 * committed when it began: it would update nothing in an order that batch inserted (placed
 * there, filled here), and a debit to a row that batch changed is checked against the row as
 * it was before (PostgreSQL checks a new row's constraints before it waits for the row),
 * which fails the batch. If the batch ahead failed, this one rolls back with
 * `PreviousBatchFailed`. A connection that cannot even roll back is discarded.
 */
export async function pipelinedTransaction<T>(
  turn: ConnectionTurn,
  options: PipelinedTransactionOptions,
  body: (tx: BatchClient) => Promise<Written<T>>,
): Promise<T> {
  const { client } = turn;
  const { steps } = options;
  try {
    steps.start();
    const { result, write: send } = await begin(client, body);
    if (!(await options.ahead)) throw new PreviousBatchFailed();
    steps.done('wait');
    const [write, commitBehind] = together(client, () => [
      send(client),
      client.pipeline ? client.query('COMMIT') : undefined,
    ]);
    try {
      await write;
    } catch (error) {
      // The failed write turned that COMMIT into a rollback: let it settle before ROLLBACK.
      await commitBehind?.catch(() => undefined);
      throw error;
    }
    steps.done('write');
    options.written();
    await (commitBehind ?? client.query('COMMIT'));
    steps.done('commit');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      turn.discard();
    }
    throw error;
  } finally {
    turn.release();
  }
}

/** BEGIN, then the batch body; pipelined, BEGIN travels with the body's first statement. */
async function begin<T>(
  client: pg.Client,
  body: (tx: BatchClient) => Promise<Written<T>>,
): Promise<Written<T>> {
  if (!client.pipeline) {
    await client.query('BEGIN');
    return body(client);
  }
  const [begun, written] = together(client, () => [client.query('BEGIN'), body(client)]);
  begun.catch(() => undefined); // reported below: it is answered before the body's statements
  const result = await written;
  await begun;
  return result;
}

/**
 * Sends the statements `issue` makes (synchronously, as an async function does up to its
 * first `await`) in one socket write. node-postgres writes each statement on its own, and a
 * batch's six (BEGIN with the read's three, then the write and COMMIT) cost six system
 * calls, each of which also wakes the backend. Only pipelined connections send before an
 * answer.
 */
function together<T>(client: pg.Client, issue: () => T): T {
  if (!client.pipeline) return issue();
  const socket = client.connection.stream;
  socket.cork();
  try {
    return issue();
  } finally {
    socket.uncork();
  }
}
