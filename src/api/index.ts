export { buildApi } from './build-api.js';
export { storeCommitMetrics } from './metrics-routes.js';
// The Consul API (issue #17) holds blocking reads and caches answers as the REST reads do.
export { AnswerCache } from './answer-cache.js';
export { Waiters } from './waiters.js';
export { toApiError } from './error-handler.js';
