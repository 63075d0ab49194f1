/**
 * Baseline for the engine benchmark: the same seeded workload run on the deliberately simple
 * reference model of the property tests (one unsorted array of orders, filtered and sorted
 * for every match). It shows what the engine's data structures buy; it is not a target.
 *
 * `node --import tsx bench/engine-baseline.ts [--commands N]`; the last line is JSON.
 */
import { parseArgs } from 'node:util';
import { ReferenceBook } from '../test/unit/engine/reference-model.js';
import { BENCH_OPTIONS, BENCH_SPEC, generateWorkload } from './engine-workload.js';

const { values } = parseArgs({
  options: {
    commands: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '42' },
  },
});
const commandCount = Number(values.commands);
const seed = Number(values.seed);
const workload = generateWorkload(seed, commandCount);

function round(): number {
  const model = new ReferenceBook(BENCH_SPEC, BENCH_OPTIONS.selfTradePrevention);
  for (const command of workload.setup) model.execute(command);
  const start = process.hrtime.bigint();
  for (const command of workload.commands) model.execute(command);
  return commandCount / (Number(process.hrtime.bigint() - start) / 1e9);
}

round(); // warm-up
const perSecond = Math.round(round());
console.log(`reference model: ${perSecond} commands/s over ${commandCount} commands`);
console.log(
  JSON.stringify({
    bench: 'engine-baseline',
    commands: commandCount,
    seed,
    commands_per_s: perSecond,
    node: process.version,
  }),
);
