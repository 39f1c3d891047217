export { buildApi } from './build-api.js';
