export { buildApi } from './build-api.js';
export type { ApiOptions } from './build-api.js';
export { errorBody, toApiError } from './error-handler.js';
export type { RouteDocs } from './openapi.js';
