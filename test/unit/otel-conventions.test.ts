// The standard OTEL_* variables an operator expects: service name, resource attributes and
// which library instrumentations run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';
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

test('instrumentations: pg and ioredis by default, enabled minus disabled', () => {
  const names = (env: Record<string, string>) =>
    createInstrumentations(settings(env)).map((i) => i.instrumentationName);
  assert.deepEqual(names({}), [
    '@opentelemetry/instrumentation-pg',
    '@opentelemetry/instrumentation-ioredis',
  ]);
  assert.deepEqual(names({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'ioredis' }), [
    '@opentelemetry/instrumentation-ioredis',
  ]);
  assert.deepEqual(names({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg, ioredis' }), []);
});

test('an unknown instrumentation name is a configuration error naming the known ones', () => {
  assert.throws(
    () => loadConfig({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg,mysql' }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /unknown instrumentation "mysql".*pg, ioredis/.test(error.message),
  );
});
