export { BALANCE_STRATEGIES, isBalanceStrategy } from './balancer.js';
export type { BalanceStrategy } from './balancer.js';
export { createGateway, gatewayOptionsFrom } from './gateway.js';
export type { Gateway, GatewayOptions, GatewayRoutes, GatewaySettings, RouteFeed } from './gateway.js';
export type { GatewayErrorCode, GatewayMetrics, UpstreamMetrics } from './gateway-counters.js';
export type { JwtOptions } from './role-verifier.js';
export type { RouteConflict, RouteInstanceView, RouteTableView, RouteView } from './route-table.js';
export type { OutlierOptions } from './upstream.js';
