// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * Dependencies point inward (README, "Layout"): what each folder of src/ may import from the
 * others, besides itself. Folders not listed (wiring, tools, app.ts, main.ts) compose the
 * rest and may import anything; src/config is read there and its values passed in.
 */
const LAYERS = {
  engine: { mayImport: [], hint: 'the engine is pure, plain values in and out' },
  domain: {
    mayImport: ['engine', 'telemetry'],
    hint: 'declare a port (*.port.ts) in src/domain and implement it in src/adapters',
  },
  shared: {
    mayImport: ['domain', 'engine', 'telemetry', 'gen'],
    hint: 'src/shared is used by both src/adapters and src/transport, so it can use neither',
  },
  adapters: {
    mayImport: ['domain', 'engine', 'telemetry', 'lifecycle', 'shared', 'gen'],
    hint: 'plumbing that src/transport needs too goes in src/shared',
  },
  transport: {
    mayImport: ['domain', 'engine', 'telemetry', 'lifecycle', 'shared', 'gen'],
    hint: 'plumbing that src/adapters needs too goes in src/shared',
  },
  lifecycle: { mayImport: ['telemetry'], hint: 'readiness and shutdown are plumbing' },
  client: {
    mayImport: ['gen'],
    hint: 'the client SDK runs in browsers and in the load tool: it speaks only the contract',
  },
  web: {
    mayImport: ['client', 'gen'],
    hint: 'the web app reaches the platform through src/client',
  },
  telemetry: { mayImport: ['config'], hint: 'telemetry is plumbing, preloaded before the app' },
  config: { mayImport: [], hint: 'configuration depends on nothing' },
};

/** Deepest folder under a layer that the rule reaches (src/adapters/a/b/c/d/file.ts). */
const MAX_DEPTH = 5;

/**
 * One `no-restricted-imports` block per layer and folder depth: imports are relative, so an
 * import leaves the layer exactly when it climbs as many `../` as the file is deep, and then
 * it must name an allowed folder. (eslint-plugin-import's no-restricted-paths resolves paths
 * itself, but is a heavy plugin for this one rule.)
 */
const layerRules = Object.entries(LAYERS).flatMap(([layer, { mayImport, hint }]) => {
  const allowed = [layer, ...mayImport];
  const importable = [...mayImport.map((name) => `src/${name}`), 'itself'];
  const message = [
    `src/${layer} may import only ${new Intl.ListFormat('en').format(importable)}`,
    `(dependencies point inward; README, "Layout"): ${hint}.`,
    ...(allowed.includes('config')
      ? []
      : ['Read configuration in src/wiring (or app.ts, main.ts) and pass the values in.']),
  ].join(' ');
  return Array.from({ length: MAX_DEPTH }, (_, index) => ({
    files: [`src/${layer}/${'*/'.repeat(index)}*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(?:\\.\\./){${index + 1}}(?!(?:${allowed.join('|')})/)`,
              caseSensitive: true,
              message,
            },
          ],
        },
      ],
    },
  }));
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/gen/', 'coverage/', '.data/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through src/config only.',
        },
      ],
    },
  },
  {
    files: ['src/config/**', 'test/**', 'bench/**', '.ci/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
    },
  },
  ...layerRules,
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
