import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from 'pino';
import { SerialQueryQueue } from './embedded-queue.js';

export interface EmbeddedPostgresOptions {
  readonly logger: Logger;
  /** Directory of the database files, created if missing; `memory://` keeps it in memory. */
  readonly dataDir: string;
  /** Default 127.0.0.1: the embedded server has no authentication, never expose it. */
  readonly host?: string;
  /** Default 0: an ephemeral port, read back from `connectionString`. */
  readonly port?: number;
  /**
   * Socket connections served at once (default 10). Extra connections are refused with a
   * non-protocol reply, so keep every pool's `max` at or below this.
   */
  readonly maxConnections?: number;
}

export interface EmbeddedPostgres {
  /** For `pg.Pool`: `postgresql://postgres@127.0.0.1:<port>/postgres`. */
  readonly connectionString: string;
  close(): Promise<void>;
}

export const MEMORY_DATA_DIR = 'memory://';

/**
 * PostgreSQL (PGlite, WASM) served over the wire protocol on loopback, so the embedded mode uses
 * the same `pg` pool, queries and migrations as a real server.
 *
 * What differs from a real server (pglite-socket 0.2):
 * - one backend session is shared by every connection: session state (SET, advisory locks,
 *   temp tables, prepared statement names) is visible to all; use SET LOCAL inside
 *   transactions, and never rely on an advisory lock for exclusion inside the process;
 * - statements run one at a time, and while a connection is inside a query or a transaction
 *   the other connections' statements wait until it ends (SerialQueryQueue): isolation by
 *   serialisation, so keep transactions short;
 * - startup parameters (statement_timeout, application_name, options=-c search_path) are
 *   ignored, and there is no pg_terminate_backend / pg_stat_activity of other connections.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const log = options.logger.child({ dependency: 'postgres', embedded: true });
  if (options.dataDir !== MEMORY_DATA_DIR) await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({
    db,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 10,
  });
  useSerialQueue(server, db, (connection) => {
    // A real server logs this too; here it explains a wait that ended or a write that vanished.
    log.warn({ connection }, 'embedded postgres connection closed mid-transaction; rolled back');
  });
  server.addEventListener('error', (event) => {
    log.warn({ err: (event as CustomEvent<unknown>).detail }, 'embedded postgres socket error');
  });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  const connectionString = `postgresql://postgres@${server.getServerConn()}/postgres`;
  log.info(
    { address: server.getServerConn(), dataDir: options.dataDir },
    'embedded postgres listening',
  );

  let closing: Promise<void> | undefined;
  return {
    connectionString,
    close() {
      closing ??= (async () => {
        await server.stop();
        await db.close();
        log.info('embedded postgres stopped');
      })();
      return closing;
    },
  };
}

/**
 * Replaces pglite-socket's message queue, which lets connections interleave mid-query (see
 * SerialQueryQueue). The server hands its `queryQueue` to every connection it accepts; if a
 * release renames it, start-up fails here rather than running with the broken queue.
 */
function useSerialQueue(
  server: PGLiteSocketServer,
  db: PGlite,
  onAbandoned: (connection: number) => void,
): void {
  const internals = server as unknown as { queryQueue?: unknown };
  if (internals.queryQueue === undefined) {
    throw new Error('pglite-socket has no queryQueue to replace; check embedded-queue.ts');
  }
  internals.queryQueue = new SerialQueryQueue(db, onAbandoned);
}
