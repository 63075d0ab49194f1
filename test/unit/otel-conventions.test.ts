// The standard OTEL_* variables an operator expects: service name, resource attributes and
// which library instrumentations run.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError, INSTRUMENTATION_NAMES, loadConfig } from '../../src/config/index.js';
import { createInstrumentations, tracingResource } from '../../src/telemetry/tracing.js';

const settings = (env: Record<string, string>) => {
  const config = loadConfig(env);
  return {
    serviceName: config.serviceName,
    version: '1.2.3',
    role: 'api',
    podName: 'api-0',
    otlpEndpoint: undefined,
    sampler: config.telemetry.sampler,
    resourceAttributes: config.telemetry.resourceAttributes,
    instrumentations: config.telemetry.instrumentations,
  };
};

test('OTEL_RESOURCE_ATTRIBUTES reach the resource; the process sets its own on top', () => {
  const resource = tracingResource(
    settings({
      OTEL_RESOURCE_ATTRIBUTES:
        'deployment.environment.name=prod, team=trading%2Cdesk ,k8s.pod.name=ignored',
    }),
  );
  assert.equal(resource.attributes['deployment.environment.name'], 'prod');
  assert.equal(resource.attributes.team, 'trading,desk');
  assert.equal(resource.attributes['k8s.pod.name'], 'api-0');
  assert.equal(resource.attributes['service.name'], 'trading-platform');
});

test('service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else trading-platform', () => {
  assert.equal(loadConfig({}).serviceName, 'trading-platform');
  assert.equal(loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=desk' }).serviceName, 'desk');
  assert.equal(
    loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=desk', OTEL_SERVICE_NAME: 'orders' })
      .serviceName,
    'orders',
  );
});

test('a malformed OTEL_RESOURCE_ATTRIBUTES is a configuration error', () => {
  assert.throws(() => loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'novalue' }), ConfigError);
  assert.throws(() => loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A' }), ConfigError);
});

/** The instrumentations made for `env`, disabled again: enabled, each hooks its module loads. */
async function instrumentationNames(env: Record<string, string>): Promise<string[]> {
  const instrumentations = await createInstrumentations(settings(env));
  for (const instrumentation of instrumentations) instrumentation.disable();
  return instrumentations.map((i) => i.instrumentationName);
}

test('instrumentations: pg and ioredis unless OTEL_NODE_ENABLED_INSTRUMENTATIONS says otherwise', async () => {
  assert.deepEqual(await instrumentationNames({}), [
    '@opentelemetry/instrumentation-ioredis',
    '@opentelemetry/instrumentation-pg',
  ]);
  // Empty is unset, as @opentelemetry/auto-instrumentations-node reads it.
  assert.deepEqual(
    loadConfig({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: '' }).telemetry.instrumentations,
    ['pg', 'ioredis'],
  );
  assert.deepEqual(
    await instrumentationNames({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: ' dns,http ' }),
    ['@opentelemetry/instrumentation-dns', '@opentelemetry/instrumentation-http'],
  );
});

test('OTEL_NODE_DISABLED_INSTRUMENTATIONS is removed from the enabled list (or the default)', () => {
  const names = (env: Record<string, string>) => loadConfig(env).telemetry.instrumentations;
  assert.deepEqual(names({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' }), ['ioredis']);
  assert.deepEqual(names({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg, ioredis' }), []);
  assert.deepEqual(
    names({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg,net',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'net,ioredis',
    }),
    ['http', 'pg'],
  );
});

test('an unknown instrumentation name is a configuration error naming the known ones', () => {
  assert.throws(
    () => loadConfig({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg,prisma' }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /OTEL_NODE_ENABLED_INSTRUMENTATIONS="pg,prisma": unknown instrumentation "prisma"; expected names from amqplib, .*pg, .*winston/.test(
        error.message,
      ),
  );
  assert.throws(
    () => loadConfig({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: '@opentelemetry/instrumentation-pg' }),
    ConfigError,
  );
});

test('the names accepted are exactly those of @opentelemetry/auto-instrumentations-node', async () => {
  // Every instrumentation the package has, each enabled, then disabled again: enabling one
  // hooks its module loads, which this process must not keep.
  const { getNodeAutoInstrumentations } = await import('@opentelemetry/auto-instrumentations-node');
  const all = getNodeAutoInstrumentations(
    Object.fromEntries(
      INSTRUMENTATION_NAMES.map((name) => [
        `@opentelemetry/instrumentation-${name}`,
        { enabled: true },
      ]),
    ),
  );
  for (const instrumentation of all) instrumentation.disable();
  const prefix = '@opentelemetry/instrumentation-';
  assert.deepEqual(
    all.map((i) => i.instrumentationName.slice(prefix.length)).sort(),
    [...INSTRUMENTATION_NAMES].sort(),
  );
});

test('one copy of each OpenTelemetry package: ours pinned to the versions sdk-node pins', () => {
  // auto-instrumentations-node's sdk-node pins its SDK release exactly; a direct dependency a
  // patch apart makes npm nest a second copy of the SDK under each of its exporters.
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const nested = Object.keys(lock.packages).filter(
    (path) =>
      /node_modules\/.+\/node_modules\/@opentelemetry\//.test(path) &&
      // @fastify/otel asks for instrumentation ^0.222, which 0.223 does not satisfy.
      !path.startsWith('node_modules/@fastify/otel/'),
  );
  assert.deepEqual(nested, []);
});
