import { parseArgs } from 'node:util';
import type { MarketStreamKind, TransportKind } from '../../client/index.js';
import { runLoad } from './run-load.js';

/**
 * `npm run load -- --url http://127.0.0.1:8080 --clients 100 --transports websocket,grpc-web
 *   --symbols BTC-USD --streams book,trades,ticker --duration 30 --private 5`: subscribers of the client SDK against a
 * running platform; progress on stderr, the report as JSON on the last line of stdout. The
 * platform admits WS_MAX_CONNECTIONS_PER_IP WebSockets and STREAM_MAX_PER_IP market data
 * streams from one address (a private stream is one more connection): raise them there, and
 * SUBSCRIBE_IP_BURST with them, for bigger runs from one host.
 */
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    clients: { type: 'string', default: '100' },
    transports: { type: 'string', default: 'websocket,grpc-web' },
    symbols: { type: 'string', default: 'BTC-USD' },
    streams: { type: 'string', default: 'book,trades' },
    duration: { type: 'string', default: '30' },
    private: { type: 'string', default: '0' },
  },
});

const KINDS: readonly TransportKind[] = ['websocket', 'grpc-web'];
const transports = values.transports.split(',').map((name) => {
  const kind = KINDS.find((candidate) => candidate === name.trim());
  if (kind === undefined)
    throw new Error(`--transports: unknown "${name}", expected ${KINDS.join(' or ')}`);
  return kind;
});
const STREAMS: readonly MarketStreamKind[] = ['book', 'trades', 'ticker'];
const streams = values.streams.split(',').map((name) => {
  const kind = STREAMS.find((candidate) => candidate === name.trim());
  if (kind === undefined)
    throw new Error(`--streams: unknown "${name}", expected some of ${STREAMS.join(', ')}`);
  return kind;
});
const count = (name: string, value: string, min: number) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new Error(`--${name}: expected an integer >= ${min}`);
  return parsed;
};

const report = await runLoad({
  url: values.url,
  clients: count('clients', values.clients, 1),
  transports,
  symbols: values.symbols.split(',').map((symbol) => symbol.trim()),
  streams,
  durationMs: count('duration', values.duration, 1) * 1000,
  privateClients: count('private', values.private, 0),
  log: (line) => {
    process.stderr.write(`${line}\n`);
  },
});
console.log(JSON.stringify(report));
process.exitCode = report.gaps + report.duplicates + report.checksum_mismatches === 0 ? 0 : 1;
