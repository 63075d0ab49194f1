export { ConfigError, loadConfig, ROLES } from './config.js';
export type { Config, Role, SamplerSettings } from './config.js';
export {
  DEFAULT_INSTRUMENTATIONS,
  INSTRUMENTATION_NAMES,
  type InstrumentationName,
} from './otel-env.js';
