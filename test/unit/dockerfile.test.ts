// The container image, checked without a container engine: what the Dockerfile copies exists
// and is in the build context, the runtime stage runs `node` (not npm) on the built
// dist/main.js exactly as `npm start` does, as the non-root user the manifests expect, on the
// ports they declare, and nothing in k8s/ overrides that command.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly instructions: Instruction[];
}

/** Stages of a Dockerfile, continuation lines joined and comments dropped. */
function stages(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const result: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      result.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '', instructions: [] });
    }
    result.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return result;
}

const dockerfile = stages(readFileSync('Dockerfile', 'utf8'));
const runtime = dockerfile.at(-1);
const build = dockerfile.find((stage) => stage.name === 'build');
const all = (stage: Stage | undefined, keyword: string): string[] =>
  (stage?.instructions ?? []).filter((i) => i.keyword === keyword).map((i) => i.args);

/** Whether `.dockerignore` lets a path into the build context (last matching pattern wins). */
function inContext(path: string): boolean {
  const patterns = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  let included = true;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = (negated ? pattern.slice(1) : pattern).replace(/\/$/, '');
    const regex = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .split('**')
        .map((part) => part.replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*')}(/.*)?$`,
    );
    if (regex.test(path)) included = negated;
  }
  return included;
}

/** The `node …` command `npm start` runs (after `exec`). */
function npmStartCommand(): string[] {
  const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as {
    scripts: Record<string, string>;
  };
  const start = scripts.start ?? '';
  assert.match(start, /^exec node /, 'npm start execs node, so signals reach the app');
  return start.replace(/^exec /, '').split(/\s+/);
}

test('the image is built in a build stage and run from a separate runtime stage', () => {
  assert.ok(build, 'a stage named build');
  assert.ok(runtime && runtime !== build, 'a runtime stage after it');
  assert.ok(all(build, 'RUN').some((run) => /npm ci\b/.test(run)));
  assert.ok(all(build, 'RUN').some((run) => /npm run build\b.*npm prune --omit=dev/.test(run)));
});

test('the runtime stage holds production node_modules, dist/ and package.json only', () => {
  const copies = all(runtime, 'COPY');
  assert.deepEqual(copies.map((args) => /--from=(\S+)/.exec(args)?.[1]).sort(), [
    'build',
    'build',
    'build',
  ]);
  const sources = copies.map((args) => args.split(/\s+/).at(-2));
  assert.deepEqual(sources.sort(), ['/app/dist', '/app/node_modules', '/app/package.json']);
});

test('the runtime command is node on the built dist/main.js, exactly as npm start runs it', () => {
  const entrypoint = all(runtime, 'ENTRYPOINT');
  assert.equal(entrypoint.length, 1);
  const command = JSON.parse(entrypoint[0] ?? '') as string[];
  assert.equal(command[0], 'node', 'node is PID 1: SIGTERM reaches the app, its code is the exit');
  assert.deepEqual(command, npmStartCommand());
  assert.deepEqual(all(runtime, 'CMD'), []);
  assert.ok(![...command, ...all(runtime, 'CMD')].some((arg) => /\bnpm\b|\bnpx\b/.test(arg)));

  // What the command loads is what `npm run build` compiles: src/X.ts → dist/X.js.
  const tsconfig = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as {
    compilerOptions: { rootDir: string; outDir: string };
  };
  assert.deepEqual(
    [tsconfig.compilerOptions.rootDir, tsconfig.compilerOptions.outDir],
    ['src', 'dist'],
  );
  for (const file of command.filter((arg) => arg.endsWith('.js'))) {
    const source = file.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts');
    assert.ok(existsSync(source), `${file} is built from ${source}, which does not exist`);
    assert.ok(inContext(source), `${source} is excluded from the build context`);
  }
  assert.deepEqual(
    command.filter((arg) => arg.endsWith('.js')),
    ['./dist/telemetry/instrument.js', 'dist/main.js'],
  );
});

test('npm is removed from the runtime image', () => {
  const removes = all(runtime, 'RUN').join(' ');
  for (const path of [
    '/usr/local/lib/node_modules/npm',
    '/usr/local/bin/npm',
    '/usr/local/bin/npx',
  ])
    assert.ok(removes.includes(path), `${path} is not removed`);
});

test('the image runs as the non-root user and group the pods expect', () => {
  const users = all(runtime, 'USER');
  assert.equal(users.length, 1);
  const [uid, gid] = (users[0] ?? '').split(':').map(Number);
  assert.ok(uid !== undefined && Number.isInteger(uid) && uid > 0, 'a numeric non-root uid');
  const pod = parseAllDocuments(readFileSync('k8s/base/pod-defaults.yaml', 'utf8'))[0]?.toJS() as {
    spec: { template: { spec: { securityContext: { runAsUser: number; runAsGroup: number } } } };
  };
  const security = pod.spec.template.spec.securityContext;
  assert.deepEqual([uid, gid], [security.runAsUser, security.runAsGroup]);
});

test('the image exposes the ports the app listens on by default and the pods declare', () => {
  const exposed = all(runtime, 'EXPOSE')
    .flatMap((args) => args.split(/\s+/))
    .map(Number)
    .sort();
  const config = loadConfig({});
  assert.deepEqual(exposed, [config.http.port, config.grpc.port].sort());
  const pod = parseAllDocuments(readFileSync('k8s/base/pod-defaults.yaml', 'utf8'))[0]?.toJS() as {
    spec: { template: { spec: { containers: { ports: { containerPort: number }[] }[] } } };
  };
  const declared = pod.spec.template.spec.containers[0]?.ports.map((p) => p.containerPort).sort();
  assert.deepEqual(exposed, declared);
});

test('every file the build stage copies from the context exists and is not ignored', () => {
  const sources = all(build, 'COPY')
    .filter((args) => !args.includes('--from='))
    .flatMap((args) => args.split(/\s+/).slice(0, -1));
  assert.ok(sources.length >= 4);
  for (const source of sources) {
    assert.ok(existsSync(source), `COPY ${source}: missing`);
    assert.ok(inContext(source), `COPY ${source}: excluded by .dockerignore`);
  }
});

test('local state, secrets, installed modules and build output stay out of the build context', () => {
  for (const path of ['node_modules', 'dist', '.data', '.git', '.env', 'certs', 'test', 'k8s'])
    assert.ok(!inContext(path), `${path} is sent to the docker build`);
  assert.ok(inContext('src/main.ts'));
});

test('no manifest overrides the image command, and k8s/README builds the image the local overlay runs', () => {
  const containers: { name: string; command?: unknown; args?: unknown }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'containers' && Array.isArray(value))
          containers.push(...(value as typeof containers));
        walk(value);
      }
    }
  };
  const files = readdirSync('k8s', { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.yaml'),
  );
  for (const file of files)
    for (const doc of parseAllDocuments(readFileSync(join('k8s', file), 'utf8'))) walk(doc.toJS());
  const app = containers.filter((c) => c.name === 'app');
  assert.ok(app.length > 0);
  for (const container of app) {
    assert.equal(container.command, undefined, 'the image ENTRYPOINT is the command');
    assert.equal(container.args, undefined);
  }
  const readme = readFileSync('k8s/README.md', 'utf8');
  assert.ok(readme.includes('docker build -t trading-platform:dev .'));
  const overlay = readFileSync('k8s/overlays/local/kustomization.yaml', 'utf8');
  assert.match(overlay, /newName: trading-platform\s+newTag: dev/);
});
