export { Checker, createChecker } from './checker.js';
export type { CheckHost, CheckRun, CheckerLogger, CheckerOptions, CheckerStats } from './checker.js';
export { classifyStatus, probe, probeHttp, probeTcp } from './probe.js';
export type { Probe } from './probe.js';
