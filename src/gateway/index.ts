export { createGateway, gatewayOptionsFrom } from './gateway.js';
export type { Gateway, GatewayOptions, GatewayRoutes } from './gateway.js';
