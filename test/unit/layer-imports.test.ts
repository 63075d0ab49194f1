import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

/**
 * The layer rule of eslint.config.js, run through ESLint's Node API on probe files that exist
 * only in memory: each boundary refuses what it should and lets through what it should.
 */
const eslint = new ESLint({
  // The layer rule alone needs no type information, so a probe lints in milliseconds.
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
});

/** The layer rule's messages for `code` as if it were the file at `filePath`. */
async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  assert.ok(result);
  const fatal = result.messages.filter((message) => message.ruleId === null);
  assert.deepEqual(fatal, [], 'the probe parses');
  return result.messages.map((message) => message.message);
}

const importOf = (specifier: string) => `import { x } from '${specifier}';\nexport { x };\n`;

describe('layer imports', () => {
  const refused: readonly (readonly [file: string, specifier: string, says: string])[] = [
    ['src/engine/probe.ts', '../domain/errors.js', 'src/engine may import only itself'],
    ['src/engine/probe.ts', '../telemetry/index.js', 'the engine is pure'],
    ['src/engine/probe.ts', '../gen/trading/v1/orders_pb.js', 'src/engine may import'],
    ['src/domain/orders/probe.ts', '../../adapters/postgres/index.js', 'declare a port'],
    ['src/domain/orders/probe.ts', '../../transport/grpc/server.js', 'src/domain may import'],
    ['src/domain/orders/probe.ts', '../../gen/trading/v1/orders_pb.js', 'src/domain may import'],
    ['src/domain/orders/probe.ts', '../../shared/grpc/engine-codec.js', 'src/domain may import'],
    ['src/domain/orders/probe.ts', '../../config/index.js', 'Read configuration in src/wiring'],
    ['src/adapters/engine/probe.ts', '../../transport/grpc/server.js', 'goes in src/shared'],
    ['src/adapters/engine/probe.ts', '../../config/index.js', 'Read configuration in src/wiring'],
    ['src/adapters/engine/probe.ts', '../../wiring/orders.js', 'src/adapters may import'],
    ['src/transport/rpc/probe.ts', '../../adapters/resilience/index.js', 'goes in src/shared'],
    ['src/transport/rpc/probe.ts', '../../app.js', 'src/transport may import'],
    ['src/shared/grpc/probe.ts', '../../transport/grpc/status.js', 'so it can use neither'],
    ['src/shared/grpc/probe.ts', '../../adapters/resilience/index.js', 'so it can use neither'],
    ['src/adapters/a/b/c/probe.ts', '../../../../transport/grpc/server.js', 'goes in src/shared'],
    ['src/client/probe.ts', '../engine/checksum.js', 'src/client may import only src/gen'],
    ['src/client/probe.ts', '../transport/rpc/session.rpc.js', 'speaks only the contract'],
    ['src/web/probe.tsx', '../transport/http/server.js', 'through src/client'],
  ];
  for (const [file, specifier, says] of refused) {
    test(`${file} may not import ${specifier}`, async () => {
      const [error, ...more] = await layerErrors(file, importOf(specifier));
      assert.equal(more.length, 0);
      assert.ok(error?.includes(says), `${String(error)} says "${says}"`);
    });
  }

  const allowed: readonly (readonly [file: string, specifier: string])[] = [
    ['src/engine/probe.ts', './order-book.js'],
    ['src/domain/orders/probe.ts', '../../engine/index.js'],
    ['src/domain/orders/probe.ts', '../../telemetry/index.js'],
    ['src/domain/orders/probe.ts', '../errors.js'],
    // src/adapters/engine, not src/engine: a folder of the layer named like another layer.
    ['src/adapters/orders/probe.ts', '../engine/grpc-order-engine.js'],
    ['src/adapters/engine/probe.ts', '../../shared/grpc/engine-codec.js'],
    ['src/adapters/engine/probe.ts', '../../gen/trading/internal/v1/engine_pb.js'],
    ['src/transport/rpc/probe.ts', '../../shared/grpc/order-enums.js'],
    ['src/transport/grpc/probe.ts', '../../lifecycle/readiness.js'],
    ['src/shared/grpc/probe.ts', '../../domain/errors.js'],
    ['src/telemetry/probe.ts', '../config/index.js'],
    ['src/wiring/probe.ts', '../adapters/engine/grpc-order-engine.js'],
    ['src/wiring/probe.ts', '../config/index.js'],
    ['src/client/probe.ts', '../gen/trading/v1/session_pb.js'],
    ['src/web/probe.tsx', '../client/index.js'],
  ];
  for (const [file, specifier] of allowed) {
    test(`${file} may import ${specifier}`, async () => {
      assert.deepEqual(await layerErrors(file, importOf(specifier)), []);
    });
  }

  test('a type-only import is refused like any other', async () => {
    const code = "import type { TlsFiles } from '../../transport/grpc/server.js';\n";
    assert.equal((await layerErrors('src/adapters/engine/probe.ts', code)).length, 1);
  });

  test('a re-export is refused like an import', async () => {
    const code = "export { x } from '../../adapters/postgres/index.js';\n";
    assert.equal((await layerErrors('src/domain/orders/probe.ts', code)).length, 1);
  });

  test('every file of a restricted layer is within the depth the rule reaches', async () => {
    const layers = ['engine', 'domain', 'shared', 'adapters', 'transport', 'lifecycle'];
    const files = layers.flatMap((layer) =>
      readdirSync(join('src', layer), { recursive: true, encoding: 'utf8' })
        .filter((name) => name.endsWith('.ts'))
        .map((name) => join('src', layer, name)),
    );
    files.push('src/telemetry/tracing.ts', 'src/config/config.ts');
    assert.ok(files.length > 100);
    for (const file of files) {
      const config = (await eslint.calculateConfigForFile(file)) as {
        rules: Record<string, unknown>;
      };
      assert.ok(config.rules['no-restricted-imports'], `${file} is checked by the layer rule`);
    }
  });
});
