export { ConfigError, loadConfig, ROLES } from './config.js';
export type { Config, Role } from './config.js';
