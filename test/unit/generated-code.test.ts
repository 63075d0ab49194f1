import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';

/** Every file under `dir`, as paths relative to it. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

test('the proto files pass buf lint', () => {
  const result = spawnSync('npx', ['buf', 'lint'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('the committed src/gen is exactly what buf generate makes from proto/', () => {
  const out = mkdtempSync(join(tmpdir(), 'tp-gen-'));
  try {
    const result = spawnSync('npx', ['buf', 'generate', '-o', out], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const fresh = join(out, 'src/gen');
    assert.deepEqual(files(fresh), files('src/gen'), 'run npm run generate and commit src/gen');
    for (const file of files(fresh)) {
      assert.equal(
        readFileSync(join('src/gen', file), 'utf8'),
        readFileSync(join(fresh, file), 'utf8'),
        `src/gen/${file} is stale: run npm run generate`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
