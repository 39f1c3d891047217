export { createGateway, gatewayOptionsFrom } from './gateway.js';
export type { Gateway, GatewayOptions, GatewayRoutes, LocalRouteFeed } from './gateway.js';
