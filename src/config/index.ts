export { DEFAULTS } from './config.js';
export type { Config, LogLevel, StoreKindOption } from './config.js';
export { ENV } from './env.js';
export { clientSettings } from './client-settings.js';
export type { ClientSettings } from './client-settings.js';
export { OPTIONS, loadConfig } from './load-config.js';
export type { ConfigSources, DeepPartial } from './load-config.js';
