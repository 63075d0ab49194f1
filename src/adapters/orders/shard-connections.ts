import type pg from 'pg';
import type { Postgres } from '../postgres/index.js';
import { prepareBatchSession } from './shard-store.postgres.js';

/** One connection's turn: a batch's transaction runs on `client`, then hands it on. */
export interface ConnectionTurn {
  readonly client: pg.Client;
  /** The transaction on it has ended: the next turn of this connection may begin. */
  readonly release: () => void;
  /** It could not even roll back: it is closed, and its next turn gets a new connection. */
  readonly discard: () => void;
}

/**
 * A shard's own connections (`Postgres.connectDedicated`, outside the pool), taken in turn so
 * that one batch commits on one while the next begins on another. A single writer gains
 * nothing from a pool round trip per batch, and connections of its own keep the named batch
 * statements prepared. Each is opened when its first turn comes.
 */
export class ShardConnections {
  readonly #clients: (pg.Client | undefined)[];
  /** Per connection: settles when the transaction last begun on it has ended. */
  readonly #ended: Promise<void>[];
  #turn = 0;

  constructor(
    private readonly options: {
      readonly postgres: Postgres;
      readonly count: number;
      /** Send statements without waiting for each answer (node-postgres' pipeline mode). */
      readonly pipeline: boolean;
    },
  ) {
    this.#clients = Array.from({ length: Math.max(1, options.count) }, () => undefined);
    this.#ended = this.#clients.map(() => Promise.resolve());
  }

  /**
   * The next connection in turn, once the transaction last begun on it has ended: the batch
   * that last used it may still be waiting to COMMIT behind the batch ahead of it, and a BEGIN
   * sent now would run inside its transaction. The turn is taken when this is called.
   */
  async next(): Promise<ConnectionTurn> {
    const turn = this.#turn;
    this.#turn = (turn + 1) % this.#clients.length;
    const ended = this.#ended[turn];
    let release!: () => void;
    this.#ended[turn] = new Promise<void>((resolve) => {
      release = resolve;
    });
    await ended;
    let client: pg.Client;
    try {
      client = this.#clients[turn] ??= await this.#connect();
    } catch (error) {
      release();
      throw error;
    }
    return {
      client,
      release,
      discard: () => {
        this.#clients[turn] = undefined;
        void client.end().catch(() => undefined);
      },
    };
  }

  /** Ends every connection; resolves once they are closed (never rejects). */
  async close(): Promise<void> {
    const clients = this.#clients.flatMap((client) => (client === undefined ? [] : [client]));
    this.#clients.fill(undefined);
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }

  async #connect(): Promise<pg.Client> {
    const { postgres, pipeline } = this.options;
    const client = await postgres.connectDedicated({ pipeline });
    try {
      await prepareBatchSession(client);
      return client;
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
  }
}
