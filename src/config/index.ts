export { ConfigError, loadConfig, ROLES, SAMPLER_NAMES } from './config.js';
export type { Config, Role, SamplerSettings } from './config.js';
