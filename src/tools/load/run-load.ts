import { WebSocket } from 'ws';
import {
  connectTransport,
  EnhancedConnectionManager,
  grpcWebTransport,
  websocketTransport,
  websocketUrl,
  type MarketStreamKind,
  type TransportKind,
  type TransportOption,
  type WebSocketLike,
} from '../../client/index.js';
import { percentiles, type Percentiles } from './percentiles.js';
import { serverResidentBytes } from './server-memory.js';

export interface LoadOptions {
  /** The platform's HTTP base URL (gRPC-Web, Connect and /ws share it). */
  readonly url: string;
  readonly clients: number;
  /** Clients take these round-robin. */
  readonly transports: readonly TransportKind[];
  readonly symbols: readonly string[];
  /** Which streams of each symbol the clients subscribe to (default: book and trades). */
  readonly streams?: readonly MarketStreamKind[];
  readonly durationMs: number;
  /** This many of the clients register, sign in and open their private stream too. */
  readonly privateClients: number;
  /** How long to wait for every client to connect before measuring anyway. */
  readonly connectTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface LoadReport {
  readonly clients: number;
  readonly connected: number;
  readonly transports: Record<string, number>;
  readonly duration_s: number;
  readonly messages: number;
  readonly messages_per_s: number;
  readonly book_updates: number;
  readonly trades: number;
  readonly ticker_updates: number;
  readonly private_messages: number;
  /** Signed-in clients whose private stream delivered its first message. */
  readonly private_streams: number;
  /** Trade `time_unix_ms` (the engine batch that matched it) to receipt, in ms. */
  readonly latency_ms: Percentiles | null;
  readonly latency_source: 'trade time_unix_ms to receipt';
  readonly gaps: number;
  readonly duplicates: number;
  readonly checksum_mismatches: number;
  readonly unrecovered: number;
  readonly resyncs: number;
  readonly reconnects: number;
  /** Each client's last error by message, so reconnects can be told apart. */
  readonly last_errors: Record<string, number>;
  /**
   * Growth of the server's resident memory from before the clients connected to after, per
   * client; null without /metrics. Includes the clients' own memory when they share its process.
   */
  readonly server_bytes_per_connection: number | null;
}

/** Node 20 has no global WebSocket: the SDK's transport runs on the `ws` package's. */
const openSocket = (url: string): WebSocketLike => new WebSocket(url) as unknown as WebSocketLike;

function transportFor(kind: TransportKind, url: string): TransportOption {
  return kind === 'websocket'
    ? websocketTransport(websocketUrl(url), openSocket)
    : grpcWebTransport(url);
}

interface Counters {
  measuring: boolean;
  book: number;
  trades: number;
  ticker: number;
  private: number;
  privateStreams: Set<number>;
  resyncs: number;
  latencies: number[];
}

/**
 * Runs N clients of the SDK (EnhancedConnectionManager, one transport each, no fallback so the
 * mix holds) against a running platform, and reports what they received while measuring.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const log = options.log ?? (() => undefined);
  const counters: Counters = {
    measuring: false,
    book: 0,
    trades: 0,
    ticker: 0,
    private: 0,
    privateStreams: new Set(),
    resyncs: 0,
    latencies: [],
  };
  const unary = connectTransport(options.url);
  const managers = Array.from({ length: options.clients }, (_, index) => {
    const kind = options.transports[index % options.transports.length] ?? 'websocket';
    const manager = new EnhancedConnectionManager({
      transports: [transportFor(kind, options.url)],
      unary,
      symbols: options.symbols,
      ...(options.streams === undefined ? {} : { streams: options.streams }),
      environment: { storage: undefined },
    });
    manager.on('book', () => {
      if (counters.measuring) counters.book += 1;
    });
    manager.on('ticker', () => {
      if (counters.measuring) counters.ticker += 1;
    });
    manager.on('trade', ({ trade }) => {
      if (!counters.measuring) return;
      counters.trades += 1;
      counters.latencies.push(Date.now() - Number(trade.timeUnixMs));
    });
    const privateMessage = () => {
      counters.privateStreams.add(index);
      if (counters.measuring) counters.private += 1;
    };
    manager.on('execution', privateMessage);
    manager.on('balances', privateMessage);
    manager.on('resync', () => {
      counters.resyncs += 1;
    });
    return { kind, manager };
  });

  try {
    const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
    const privateCount = Math.min(options.privateClients, managers.length);
    await Promise.all(
      managers.slice(0, privateCount).map(async ({ manager }, index) => {
        const username = `load_${run}_${index}`;
        const password = `load-password-${run}`;
        await manager.register(username, password);
        await manager.signIn(username, password);
      }),
    );
    const memoryBefore = await serverResidentBytes(options.url);
    for (const { manager } of managers) manager.start();
    const connected = await waitConnected(managers, options.connectTimeoutMs ?? 30_000);
    const memoryAfter = await serverResidentBytes(options.url);
    log(
      `${connected}/${managers.length} clients connected; measuring for ${options.durationMs} ms`,
    );

    const startedAt = performance.now();
    counters.measuring = true;
    await new Promise((resolve) => setTimeout(resolve, options.durationMs));
    counters.measuring = false;
    const seconds = (performance.now() - startedAt) / 1000;

    const states = managers.map(({ manager }) => manager.state);
    const sum = (pick: (state: (typeof states)[number]) => number) =>
      states.reduce((total, state) => total + pick(state), 0);
    const transports: Record<string, number> = {};
    for (const { kind } of managers) transports[kind] = (transports[kind] ?? 0) + 1;
    const lastErrors: Record<string, number> = {};
    for (const { lastError } of states) {
      if (lastError !== undefined) lastErrors[lastError] = (lastErrors[lastError] ?? 0) + 1;
    }
    const messages = counters.book + counters.trades + counters.ticker + counters.private;
    return {
      clients: managers.length,
      connected,
      transports,
      duration_s: Number(seconds.toFixed(3)),
      messages,
      messages_per_s: Math.round(messages / seconds),
      book_updates: counters.book,
      trades: counters.trades,
      ticker_updates: counters.ticker,
      private_messages: counters.private,
      private_streams: counters.privateStreams.size,
      latency_ms: percentiles(counters.latencies) ?? null,
      latency_source: 'trade time_unix_ms to receipt',
      gaps: sum((state) => state.gaps),
      duplicates: sum((state) => state.duplicates),
      checksum_mismatches: sum((state) => state.checksumMismatches),
      unrecovered: sum((state) => state.unrecovered),
      resyncs: counters.resyncs,
      reconnects: sum((state) => state.reconnects),
      last_errors: lastErrors,
      server_bytes_per_connection:
        memoryBefore === undefined || memoryAfter === undefined || connected === 0
          ? null
          : Math.round((memoryAfter - memoryBefore) / connected),
    };
  } finally {
    for (const { manager } of managers) manager.close();
  }
}

/** Resolves with how many clients are connected once all are, or when the time is up. */
async function waitConnected(
  managers: readonly { manager: EnhancedConnectionManager }[],
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const count = () => managers.filter(({ manager }) => manager.state.status === 'connected').length;
  while (count() < managers.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return count();
}
