export { AddressRanges, parseAddressRange } from './address-ranges.js';
export { clientErrorAnswer, serverTiming } from './server-timing.js';
export type { RequestDeadlines } from './server-timing.js';
