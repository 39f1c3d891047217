export { addEurekaRoutes } from './eureka-routes.js';
export type { EurekaOptions } from './eureka-routes.js';
