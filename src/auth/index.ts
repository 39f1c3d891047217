export { browserGuard } from './browser-guard.js';
export type { BrowserGuardOptions } from './browser-guard.js';
