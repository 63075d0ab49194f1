import { z } from 'zod';

/**
 * The instrumentations the process can register, by the short names
 * `OTEL_NODE_ENABLED_INSTRUMENTATIONS` uses (as in @opentelemetry/auto-instrumentations-node).
 * HTTP server spans come from @fastify/otel and gRPC spans from our interceptor, not from here.
 */
export const INSTRUMENTATION_NAMES = ['pg', 'ioredis'] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];

/** A comma-separated list of instrumentation names; unknown names are an error, not ignored. */
export const instrumentationList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const names = value
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      for (const name of names) {
        if (!(INSTRUMENTATION_NAMES as readonly string[]).includes(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown instrumentation "${name}"; expected names from ${INSTRUMENTATION_NAMES.join(', ')}`,
          });
        }
      }
      return names as InstrumentationName[];
    });

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
