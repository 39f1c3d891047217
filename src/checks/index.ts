export { createChecker } from './checker.js';
export { classifyStatus, probe, probeHttp, probeTcp } from './probe.js';
