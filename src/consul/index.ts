export { addConsulRoutes } from './consul-routes.js';
export type { ConsulOptions } from './consul-routes.js';
