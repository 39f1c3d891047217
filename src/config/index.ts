export { BALANCE_MODES, DEFAULTS, GATEWAY_COMMAND_PORT, LOG_LEVELS } from './config.js';
export type { Config } from './config.js';
export { ENV } from './env.js';
export { CLIENT_FLAGS, clientSettings } from './client-settings.js';
export { OPTIONS, loadConfig } from './load-config.js';
export type { DeepPartial } from './load-config.js';
