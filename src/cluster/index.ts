export { createClusterNode } from './cluster-node.js';
export type { ClusterNode, ClusterNodeOptions } from './cluster-node.js';
