/**
 * `switchboard/agent`: self-registration for a Node service (`registerSelf`). It reads the host's interfaces and
 * listens for process signals, so it is kept out of the browser-safe `switchboard/client` (./client.ts).
 */
// Loaded for its effect: RegistryClient's ca, cert and key options work wherever the agent is (./tls-fetch.ts).
import './node-tls-fetch.js';
export { registerSelf } from './register-self.js';
export type { AgentLogger, RegisterSelfOptions, RegistrationAgent } from './register-self.js';
