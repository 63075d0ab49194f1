import type { OrderCommand, Submitted } from '../../domain/orders/order-engine.port.js';
import { clientKey } from './batch-plan.js';

/** A submitted command, waiting for the batch that answers it. */
export interface Pending {
  readonly command: OrderCommand;
  readonly startedAt: bigint;
  /** Submission order: a command put back into the queue takes its place in it again. */
  readonly seq: number;
  /** Whether it already ran once in a batch that was rolled back (`requeue`). */
  retried: boolean;
  /**
   * Set once the database refused its batch for one command's data: it then runs only in a
   * batch of its group, which is halved at each refusal until the command at fault runs alone
   * (`isolate`).
   */
  group: number | undefined;
  readonly resolve: (submitted: Submitted) => void;
  readonly reject: (error: unknown) => void;
}

/** A batch to run, and how many repeated places were held back from it (`BatchQueue.take`). */
export interface TakenBatch {
  readonly batch: Pending[];
  readonly heldRepeats: number;
}

/**
 * A shard's commands waiting for a batch, and which of them make up the next one: queued
 * commands in submission order, up to the batch size, except
 * - places that repeat a client order id of a batch that has not committed yet (a client
 *   retrying quickly). The batch could not see that order, would insert it again and fail on
 *   the unique key, failing every command with it; held for a later batch, the repeat finds
 *   the order stored and gets it back;
 * - while the commands of a refused batch are being isolated (`isolate`), a batch is one
 *   isolation group, taken before anything else.
 * Commands put back (`requeue`, `isolate`) take their place in submission order again.
 */
export class BatchQueue {
  #items: Pending[] = [];
  #submitted = 0;
  /** Isolation groups made so far, and how many of their commands are queued. */
  #groups = 0;
  #isolating = 0;
  /** `clientKey`s of the places in batches that have not finished committing. */
  readonly #committing = new Set<string>();

  /** How many commands are waiting. A method: the compiler would take a getter as unchanged. */
  size(): number {
    return this.#items.length;
  }

  add(
    command: OrderCommand,
    resolve: (submitted: Submitted) => void,
    reject: (error: unknown) => void,
  ): void {
    this.#items.push({
      command,
      startedAt: process.hrtime.bigint(),
      seq: this.#submitted++,
      retried: false,
      group: undefined,
      resolve,
      reject,
    });
  }

  /** The next batch, at most `max` commands; empty when all that waits repeats a committing place. */
  take(max: number): TakenBatch {
    if (this.#committing.size === 0 && this.#isolating === 0) {
      return { batch: this.#items.splice(0, max), heldRepeats: 0 };
    }
    const group =
      this.#isolating === 0
        ? undefined
        : this.#items.find((item) => item.group !== undefined)?.group;
    const batch: Pending[] = [];
    const held: Pending[] = [];
    let heldRepeats = 0;
    for (const item of this.#items) {
      const repeat = this.#repeatsCommitting(item.command);
      if (repeat) heldRepeats += 1;
      if (batch.length < max && !repeat && item.group === group) batch.push(item);
      else held.push(item);
    }
    if (group !== undefined) this.#isolating -= batch.length;
    this.#items = held;
    return { batch, heldRepeats };
  }

  /** The places of `batch` are committing until `settled` settles: repeats of them wait. */
  committing(batch: readonly Pending[], settled: Promise<unknown>): void {
    const keys: string[] = [];
    for (const { command } of batch) {
      if (command.kind === 'place') keys.push(clientKey(command.userId, command.clientOrderId));
    }
    if (keys.length === 0) return;
    for (const key of keys) this.#committing.add(key);
    void settled.finally(() => {
      for (const key of keys) this.#committing.delete(key);
    });
  }

  /** Puts back commands of a batch that rolled back through no fault of its own, once only. */
  requeue(items: readonly Pending[]): void {
    for (const item of items) item.retried = true;
    this.#putBack(items);
  }

  /**
   * Puts back the commands of a batch the database refused for one command's data, in two
   * halves, each an isolation group that runs as a batch of its own (and is halved again if
   * refused again). Returns how many of them are isolated for the first time.
   */
  isolate(batch: readonly Pending[]): number {
    const fresh = batch.filter((item) => item.group === undefined).length;
    const half = Math.ceil(batch.length / 2);
    const [first, second] = [this.#groups++, this.#groups++];
    batch.forEach((item, i) => {
      item.group = i < half ? first : second;
    });
    this.#isolating += batch.length;
    this.#putBack(batch);
    return fresh;
  }

  /** Empties the queue (a shard that stops fails what waits). */
  takeAll(): Pending[] {
    this.#isolating = 0;
    return this.#items.splice(0);
  }

  #putBack(items: readonly Pending[]): void {
    this.#items = [...items, ...this.#items].sort((a, b) => a.seq - b.seq);
  }

  #repeatsCommitting(command: OrderCommand): boolean {
    return (
      command.kind === 'place' &&
      this.#committing.has(clientKey(command.userId, command.clientOrderId))
    );
  }
}
