import { z } from 'zod';

/**
 * Every instrumentation @opentelemetry/auto-instrumentations-node (0.81) can register, by the
 * short names `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `OTEL_NODE_DISABLED_INSTRUMENTATIONS` use
 * (the package name without `@opentelemetry/instrumentation-`). Listed here rather than read
 * from the package so that validating the configuration loads none of the 41; a unit test
 * keeps the list equal to the package's.
 */
export const INSTRUMENTATION_NAMES = [
  'amqplib',
  'aws-lambda',
  'aws-sdk',
  'bunyan',
  'cassandra-driver',
  'connect',
  'cucumber',
  'dataloader',
  'dns',
  'express',
  'fs',
  'generic-pool',
  'graphql',
  'grpc',
  'hapi',
  'host-metrics',
  'http',
  'ioredis',
  'kafkajs',
  'knex',
  'koa',
  'lru-memoizer',
  'memcached',
  'mongodb',
  'mongoose',
  'mysql',
  'mysql2',
  'nestjs-core',
  'net',
  'openai',
  'oracledb',
  'pg',
  'pino',
  'redis',
  'restify',
  'router',
  'runtime-node',
  'socket.io',
  'tedious',
  'undici',
  'winston',
] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];

/**
 * What runs when `OTEL_NODE_ENABLED_INSTRUMENTATIONS` is unset. The package's own default is
 * all but `fs` and `host-metrics`; this service keeps to the libraries it uses, since each
 * instrumentation wraps calls whether or not a span is sampled. HTTP route spans come from
 * @fastify/otel and gRPC spans from our interceptors, whatever these variables say.
 */
export const DEFAULT_INSTRUMENTATIONS: readonly InstrumentationName[] = ['pg', 'ioredis'];

const isInstrumentationName = (name: string): name is InstrumentationName =>
  (INSTRUMENTATION_NAMES as readonly string[]).includes(name);

/**
 * A comma-separated list of instrumentation names; unknown names are an error, not ignored.
 * Unset or empty is `undefined`, as the package treats an empty variable as an unset one.
 */
export const instrumentationList = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const names = (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
    if (names.length === 0) return undefined;
    for (const name of names) {
      if (!isInstrumentationName(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown instrumentation "${name}"; expected names from ${INSTRUMENTATION_NAMES.join(', ')}`,
        });
      }
    }
    return names.filter(isInstrumentationName);
  });

/**
 * The instrumentations to register, as the OpenTelemetry docs define the two variables: the
 * enabled list (or the default), then the disabled list removed from it.
 */
export function selectInstrumentations(
  enabled: readonly InstrumentationName[] | undefined,
  disabled: readonly InstrumentationName[] | undefined,
): InstrumentationName[] {
  return (enabled ?? DEFAULT_INSTRUMENTATIONS).filter((name) => !disabled?.includes(name));
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded
 * (the OpenTelemetry SDK environment spec).
 */
export const resourceAttributes = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const attributes: Record<string, string> = {};
    for (const pair of value.split(',')) {
      if (pair.trim() === '') continue;
      const at = pair.indexOf('=');
      const key = at > 0 ? pair.slice(0, at).trim() : '';
      if (key === '') {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not key=value` });
        continue;
      }
      try {
        attributes[key] = decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        ctx.addIssue({ code: 'custom', message: `"${pair}": the value is not percent-encoded` });
      }
    }
    return attributes;
  });
