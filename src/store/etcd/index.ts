export { connectEtcd } from './etcd-connection.js';
export type { EtcdConnection, EtcdConnectionOptions } from './etcd-connection.js';
export { openEtcdStore } from './etcd-store.js';
export type { EtcdStoreOptions } from './etcd-store.js';
