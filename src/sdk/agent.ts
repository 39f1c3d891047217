/**
 * `switchboard/agent`: self-registration for a Node service (`registerSelf`). It reads the host's interfaces and
 * listens for process signals, so it is kept out of the browser-safe `switchboard/client` (./client.ts).
 */
export { registerSelf } from './register-self.js';
export type { AgentLogger, RegisterSelfOptions, RegistrationAgent } from './register-self.js';
