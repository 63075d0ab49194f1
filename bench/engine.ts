/**
 * Matching engine benchmark: `npm run bench:engine [-- --commands N --rounds R --seed S]`.
 *
 * One symbol, about 1,000 resting orders, a seeded mix of 70 % limit placements near the
 * touch, 20 % cancels and 10 % market/IOC orders (bench/engine-workload.ts), replayed on a
 * fresh book per round after an untimed setup and one untimed warm-up round.
 *
 * - Throughput: rounds timed as a whole (two clock reads per round); the median round is
 *   reported. Measured with the default options and again with level-change events on.
 * - Latency: a separate round that reads process.hrtime.bigint() around every command, so
 *   its percentiles include the clock's own cost (reported as timer_overhead_ns).
 *
 * Events go to one array per BATCH commands, as the engine runner collects a batch's events
 * for one database transaction. Prints a table, then one JSON line with the figures.
 */
import { parseArgs } from 'node:util';
import { MatchingEngine, type EngineEvent, type OrderBookOptions } from '../src/engine/index.js';
import { BENCH_OPTIONS, BENCH_SPEC, generateWorkload } from './engine-workload.js';

const { values } = parseArgs({
  options: {
    commands: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '42' },
  },
});
const commandCount = Number(values.commands);
const rounds = Number(values.rounds);
const seed = Number(values.seed);
const BATCH = 256;
const LEVEL_OPTIONS: OrderBookOptions = { ...BENCH_OPTIONS, emitLevelChanges: true };

const generationStart = process.hrtime.bigint();
const { setup, commands, mix, restingAverage, trades } = generateWorkload(seed, commandCount);
const generationSeconds = Number(process.hrtime.bigint() - generationStart) / 1e9;

function freshEngine(options: OrderBookOptions): MatchingEngine {
  const engine = new MatchingEngine([BENCH_SPEC], options);
  for (const command of setup) engine.execute(command);
  return engine;
}

function throughputRound(options: OrderBookOptions) {
  const engine = freshEngine(options);
  const out: EngineEvent[] = [];
  let events = 0;
  let inBatch = 0;
  const start = process.hrtime.bigint();
  for (const command of commands) {
    engine.execute(command, out);
    if (++inBatch === BATCH) {
      events += out.length;
      out.length = 0;
      inBatch = 0;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  events += out.length;
  return {
    perSecond: commandCount / seconds,
    events,
    checksum: engine.book(BENCH_SPEC.symbol)!.checksum(),
  };
}

/** Median commands/s over `rounds` rounds; also proves every round ended with the same book. */
function throughput(options: OrderBookOptions) {
  throughputRound(options); // warm-up: let the JIT optimise these code paths first
  const perRound: number[] = [];
  const checksums = new Set<number>();
  let events = 0;
  for (let r = 0; r < rounds; r++) {
    const round = throughputRound(options);
    perRound.push(round.perSecond);
    checksums.add(round.checksum);
    events = round.events;
  }
  if (checksums.size !== 1) throw new Error('rounds ended with different books: not deterministic');
  const sorted = [...perRound].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    best: sorted[sorted.length - 1]!,
    perRound,
    events,
  };
}

function latencies(options: OrderBookOptions): Float64Array {
  const engine = freshEngine(options);
  const out: EngineEvent[] = [];
  const samples = new Float64Array(commands.length);
  let i = 0;
  for (const command of commands) {
    const start = process.hrtime.bigint();
    engine.execute(command, out);
    samples[i++] = Number(process.hrtime.bigint() - start);
    if (i % BATCH === 0) out.length = 0;
  }
  return samples.sort();
}

function timerOverheadNs(): number {
  const samples = new Float64Array(100_000);
  for (let i = 0; i < samples.length; i++) {
    const start = process.hrtime.bigint();
    samples[i] = Number(process.hrtime.bigint() - start);
  }
  return percentileUs(samples.sort(), 0.5) * 1000;
}

function percentileUs(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1000;
}

const plain = throughput(BENCH_OPTIONS);
const withLevels = throughput(LEVEL_OPTIONS);
const sorted = latencies(BENCH_OPTIONS);
const overheadNs = timerOverheadNs();
const p50 = percentileUs(sorted, 0.5);
const p99 = percentileUs(sorted, 0.99);
const p999 = percentileUs(sorted, 0.999);
const max = percentileUs(sorted, 1);

const share = (n: number): string => `${((100 * n) / commandCount).toFixed(1)} %`;
const perSecond = (n: number): string => Math.round(n).toLocaleString('en-US');
const us = (n: number): string => `${n.toFixed(2)} µs`;
console.log(`matching engine benchmark, node ${process.version}, seed ${seed}`);
console.table({
  workload: `${commandCount} commands after ${setup.length} untimed setup orders`,
  mix: `limit ${share(mix.place)}, cancel ${share(mix.cancel)}, market/IOC ${share(mix.take)}`,
  'resting orders (avg)': Math.round(restingAverage),
  'trades / events per round': `${trades} / ${plain.events}`,
  'event sink': `one array per ${BATCH} commands`,
  'generation (untimed)': `${generationSeconds.toFixed(2)} s`,
  'commands/s (median)': perSecond(plain.median),
  'commands/s (best)': perSecond(plain.best),
  'commands/s (rounds)': plain.perRound.map(perSecond).join(', '),
  'commands/s with level changes (median)': perSecond(withLevels.median),
  'latency p50': us(p50),
  'latency p99': us(p99),
  'latency p99.9': us(p999),
  'latency max': us(max),
  'timer overhead (p50)': `${overheadNs} ns, included in latencies`,
});
const round2 = (value: number): number => Math.round(value * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'engine',
    commands: commandCount,
    rounds,
    seed,
    batch: BATCH,
    commands_per_s: Math.round(plain.median),
    commands_per_s_best: Math.round(plain.best),
    commands_per_s_level_changes: Math.round(withLevels.median),
    p50_us: round2(p50),
    p99_us: round2(p99),
    p999_us: round2(p999),
    max_us: round2(max),
    timer_overhead_ns: overheadNs,
    resting_orders_avg: Math.round(restingAverage),
    trades,
    node: process.version,
  }),
);
