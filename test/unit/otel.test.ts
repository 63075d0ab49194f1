// OpenTelemetry Collector configs: the base file alone, and the base with each layer merged the
// way the collector merges `--config` files (maps deep-merged, lists replaced), must wire every
// pipeline to components that are defined. This checks structure only: `otelcol-contrib
// validate` is the full check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';

type Config = Record<string, unknown>;
interface Pipeline {
  receivers?: string[];
  processors?: string[];
  exporters?: string[];
}
interface Service {
  extensions?: string[];
  pipelines?: Record<string, Pipeline>;
}

const BASE = 'otel/collector.yaml';
const LAYERS = ['otel/collector.eks.yaml'];

const parseYaml = (path: string): Config => parse(readFileSync(path, 'utf8')) as Config;

const isMap = (value: unknown): value is Config =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The collector's merge of several --config files: later maps win key by key, lists replace. */
function merge(base: Config, layer: Config): Config {
  const out: Config = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    const current = out[key];
    out[key] = isMap(current) && isMap(value) ? merge(current, value) : value;
  }
  return out;
}

const section = (config: Config, name: string): Config => {
  const value = config[name];
  return isMap(value) ? value : {};
};

/** Every way a pipeline, or the service, points at a component that is not defined. */
function danglingReferences(config: Config): string[] {
  const service = section(config, 'service') as Service;
  const problems: string[] = [];
  for (const id of service.extensions ?? []) {
    if (!(id in section(config, 'extensions'))) problems.push(`service.extensions: ${id}`);
  }
  for (const [name, pipeline] of Object.entries(service.pipelines ?? {})) {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const id of pipeline[kind] ?? []) {
        if (!(id in section(config, kind))) problems.push(`pipelines.${name}.${kind}: ${id}`);
      }
    }
  }
  return problems;
}

const configs = (): [string, Config][] => {
  const base = parseYaml(BASE);
  return [
    [BASE, base],
    ...LAYERS.map((layer): [string, Config] => [
      `${BASE} + ${layer}`,
      merge(base, parseYaml(layer)),
    ]),
  ];
};

test('every pipeline and extension reference is defined, in the base and with each layer', () => {
  for (const [name, config] of configs()) assert.deepEqual(danglingReferences(config), [], name);
});

test('traces, metrics and logs pipelines each have a receiver and an exporter', () => {
  for (const [name, config] of configs()) {
    const pipelines = (section(config, 'service') as Service).pipelines ?? {};
    assert.deepEqual(Object.keys(pipelines).sort(), ['logs', 'metrics', 'traces'], name);
    for (const [signal, pipeline] of Object.entries(pipelines)) {
      assert.ok(pipeline.receivers?.length, `${name}: ${signal} has no receiver`);
      assert.ok(pipeline.exporters?.length, `${name}: ${signal} has no exporter`);
    }
  }
});

test('memory_limiter runs first and batch last in every pipeline', () => {
  for (const [name, config] of configs()) {
    for (const [signal, pipeline] of Object.entries(
      (section(config, 'service') as Service).pipelines ?? {},
    )) {
      const processors = pipeline.processors ?? [];
      assert.equal(processors[0], 'memory_limiter', `${name}: ${signal}`);
      assert.equal(processors.at(-1), 'batch', `${name}: ${signal}`);
    }
  }
});

test('OTLP is received on gRPC 4317 and HTTP 4318 from other pods, with a health check', () => {
  for (const [name, config] of configs()) {
    const protocols = section(section(section(config, 'receivers'), 'otlp'), 'protocols');
    assert.equal(section(protocols, 'grpc').endpoint, '0.0.0.0:4317', name);
    assert.equal(section(protocols, 'http').endpoint, '0.0.0.0:4318', name);
    assert.ok((section(config, 'service') as Service).extensions?.includes('health_check'), name);
  }
});

test('exporter endpoints come from the environment, never hard-coded', () => {
  for (const [name, config] of configs()) {
    for (const [id, exporter] of Object.entries(section(config, 'exporters'))) {
      const endpoint = isMap(exporter) ? exporter.endpoint : undefined;
      if (endpoint === undefined) continue;
      assert.ok(typeof endpoint === 'string', `${name}: ${id} endpoint is not a string`);
      assert.match(endpoint, /^\$\{env:[A-Z_]+\}$/, `${name}: ${id}`);
    }
  }
});

test('traces go to the backend named by TRACES_ENDPOINT in the base config', () => {
  const base = parseYaml(BASE);
  const traces = (section(base, 'service') as Service).pipelines?.traces;
  const exporters = traces?.exporters ?? [];
  assert.ok(
    exporters.some(
      (id) => section(section(base, 'exporters'), id).endpoint === '${env:TRACES_ENDPOINT}',
    ),
    `traces exporters ${exporters.join(', ')} do not use TRACES_ENDPOINT`,
  );
});

test('merge deep-merges maps and replaces lists, like the collector', () => {
  const merged = merge(
    { exporters: { a: { endpoint: 'x', tls: { insecure: true } } }, list: [1, 2] },
    { exporters: { a: { auth: 'y' } }, list: [3] },
  );
  assert.deepEqual(merged, {
    exporters: { a: { endpoint: 'x', tls: { insecure: true }, auth: 'y' } },
    list: [3],
  });
});

test('danglingReferences names a pipeline that uses an undefined component', () => {
  const config = {
    receivers: { otlp: {} },
    exporters: { debug: {} },
    service: {
      pipelines: { traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['debug'] } },
    },
  };
  assert.deepEqual(danglingReferences(config), ['pipelines.traces.processors: batch']);
});
