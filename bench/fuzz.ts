/**
 * The fuzzer's long run: a seeded campaign of malformed inputs on every public entry point of
 * an app started in this process on the real PostgreSQL and Redis (as the tests start it), with
 * the checks of test/integration/fuzz.test.ts. Prints the defects found, then one JSON line
 * with the counts; exits 1 if any defect was found.
 *
 *   node --import tsx bench/fuzz.ts [--inputs 10000] [--seed 20] [--concurrency 4]
 */
import { parseArgs } from 'node:util';
import { startTestApp } from '../test/support/app.js';
import { FUZZ_APP_ENV, runFuzzCampaign } from '../test/support/fuzz-campaign.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '4' },
  },
});

const app = await startTestApp({ ...FUZZ_APP_ENV, LOG_LEVEL: 'warn' });
try {
  const report = await runFuzzCampaign(app, {
    inputs: Number(values.inputs),
    seed: Number(values.seed),
    concurrency: Number(values.concurrency),
  });
  for (const defect of report.defects) console.error(JSON.stringify(defect));
  const { defects, ...counts } = report;
  console.log(JSON.stringify({ ...counts, defects: defects.length }));
  process.exitCode = defects.length > 0 ? 1 : 0;
} finally {
  await app.stop();
}
