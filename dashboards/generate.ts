// `npm run dashboards`: writes every dashboard JSON next to its builder. Commit the output;
// test/unit/dashboards.test.ts fails when the committed JSON is stale.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { renderDashboards } from './render.js';

for (const { path, content } of renderDashboards()) {
  writeFileSync(path, content);
  console.log(`wrote ${relative(process.cwd(), path)}`);
}
