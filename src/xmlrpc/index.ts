export { addXmlRpcRoutes } from './xmlrpc-routes.js';
export type { XmlRpcOptions } from './xmlrpc-routes.js';
