// Alert rules: promtool validates and unit-tests them; this file also holds every alert to the
// kubernetes-mixin conventions (severity, summary, description, runbook with four sections).
// No YAML library is a dependency, so the rule file is read with line-oriented regexes; that
// is enough because promtool has already parsed it strictly and the file keeps one style.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';

const ALERTS_DIR = 'alerts';
const RULE_FILES = readdirSync(ALERTS_DIR)
  .filter((name) => name.endsWith('.rules.yml'))
  .map((name) => join(ALERTS_DIR, name));
const TEST_FILES = readdirSync(join(ALERTS_DIR, 'tests'))
  .filter((name) => name.endsWith('.test.yml'))
  .map((name) => join(ALERTS_DIR, 'tests', name));
const RUNBOOK_BASE =
  'https://github.com/example/trading-platform-template/blob/main/alerts/runbooks/';
const SECTIONS = ['Meaning', 'Impact', 'Diagnosis', 'Mitigation'];

/** True when promtool can run; skips the test (or fails it on CI) otherwise. */
function requirePromtool(t: TestContext): boolean {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (!probe.error) return true;
  if (process.env.CI) assert.fail('promtool is required on CI: apt-get install prometheus');
  t.skip('promtool not installed: apt-get install prometheus');
  return false;
}

function promtool(args: string[]): void {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  assert.equal(run.status, 0, `promtool ${args.join(' ')} failed:\n${run.stdout}${run.stderr}`);
}

interface Alert {
  name: string;
  block: string;
}

/** Each `- alert:` entry with its text up to the next rule, comments dropped. */
function alerts(): Alert[] {
  return RULE_FILES.flatMap((file) => {
    const text = readFileSync(file, 'utf8').replace(/^\s*#.*$/gm, '');
    return text
      .split(/^(?=\s*- (?:alert|record):)/m)
      .map((block) => ({ name: /^\s*- alert:\s*(\S+)/.exec(block)?.[1], block }))
      .filter((alert): alert is Alert => alert.name !== undefined);
  });
}

const alertNames = (): string[] => [...new Set(alerts().map((alert) => alert.name))].sort();

test('rule files pass promtool check rules with every lint', (t) => {
  if (!requirePromtool(t)) return;
  promtool(['check', 'rules', '--lint=all', ...RULE_FILES]);
});

test('rules pass their promtool unit tests', (t) => {
  if (!requirePromtool(t)) return;
  promtool(['test', 'rules', ...TEST_FILES]);
});

test('every rule file is loaded by a promtool test file', () => {
  // A rule file no test loads would pass `promtool test rules` with every alert untested.
  const loaded = new Set(
    TEST_FILES.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const list = /^rule_files:\s*\n((?:\s+- .+\n)+)/m.exec(text)?.[1] ?? '';
      return [...list.matchAll(/- (\S+)/g)].map((match) => join(dirname(file), match[1] ?? ''));
    }),
  );
  for (const file of RULE_FILES) assert.ok(loaded.has(file), `${file} is not in any rule_files`);
});

test('every alert has a PascalCase prefixed name, a severity, summary, description and runbook_url', () => {
  assert.ok(alerts().length > 0, 'no alerts found');
  for (const { name, block } of alerts()) {
    assert.match(name, /^TradingPlatform[A-Z][A-Za-z0-9]+$/);
    assert.match(block, /^\s+severity: (critical|warning)\s*$/m, `${name}: severity`);
    assert.match(block, /^\s+summary: \S/m, `${name}: summary`);
    assert.match(block, /^\s+description: (>-|\S)/m, `${name}: description`);
    assert.match(block, /\{\{ \$(labels|value)/, `${name}: description is not templated`);
    const url = /^\s+runbook_url: (\S+)\s*$/m.exec(block)?.[1];
    assert.equal(url, `${RUNBOOK_BASE}${name}.md`, `${name}: runbook_url`);
  }
});

test('every alert has a runbook with Meaning, Impact, Diagnosis and Mitigation', () => {
  for (const name of alertNames()) {
    const path = join(ALERTS_DIR, 'runbooks', `${name}.md`);
    assert.ok(existsSync(path), `missing runbook ${path}`);
    const text = readFileSync(path, 'utf8');
    assert.match(text, new RegExp(`^# ${name}\\s*$`, 'm'), `${path}: title`);
    const headings = [...text.matchAll(/^## (.+?)\s*$/gm)].map((match) => match[1]);
    assert.deepEqual(headings, SECTIONS, `${path}: sections`);
  }
});

test('every runbook belongs to an alert', () => {
  const runbooks = readdirSync(join(ALERTS_DIR, 'runbooks')).map((file) =>
    file.replace(/\.md$/, ''),
  );
  assert.deepEqual(runbooks.sort(), alertNames());
});

test('every alert is tested both firing and not firing', () => {
  const cases = TEST_FILES.flatMap((file) => [
    ...readFileSync(file, 'utf8').matchAll(/alertname: (\S+)\s*\n\s*exp_alerts:(.*)$/gm),
  ]);
  for (const name of alertNames()) {
    const mine = cases.filter((match) => match[1] === name);
    assert.ok(
      mine.some((match) => match[2]?.trim() === ''),
      `${name}: no case where it fires`,
    );
    assert.ok(
      mine.some((match) => match[2]?.trim() === '[]'),
      `${name}: no case where it stays quiet`,
    );
  }
});

test('every alert is listed in alerts/README.md', () => {
  const readme = readFileSync(join(ALERTS_DIR, 'README.md'), 'utf8');
  const listed = [...readme.matchAll(/^\|\s*(TradingPlatform\w+)\s*\|/gm)].map((match) => match[1]);
  assert.deepEqual([...new Set(listed)].sort(), alertNames());
});
