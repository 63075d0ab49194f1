/**
 * Loaded with `node --import` before the application, so the instrumentations named by
 * `OTEL_NODE_*_INSTRUMENTATIONS` (`pg` and `ioredis` by default) patch their libraries before
 * anything imports them.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { ConfigError, loadConfig } from '../config/index.js';
import { startTracing } from './tracing.js';

function configOrUndefined() {
  try {
    return loadConfig();
  } catch (error) {
    // main.ts reports the configuration problem and exits; nothing to instrument.
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

const config = configOrUndefined();
if (config?.telemetry.enabled === true) {
  // Hook only the ESM modules an instrumentation asks for, not every import.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
  await startTracing({
    serviceName: config.serviceName,
    version: config.version,
    role: config.role,
    podName: config.podName,
    otlpEndpoint: config.telemetry.otlpEndpoint,
    sampler: config.telemetry.sampler,
    resourceAttributes: config.telemetry.resourceAttributes,
    instrumentations: config.telemetry.instrumentations,
  });
  await waitForAllMessagesAcknowledged();
}
