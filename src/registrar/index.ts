/** The third-party registrar behind `switchboard agent` (issue #15). */
export { Registrar, openLoadSource } from './registrar.js';
export type { AgentStatus, ServiceStatus } from './registrar.js';
export { DEFAULT_STATUS_PORT, startStatusServer } from './status-server.js';
