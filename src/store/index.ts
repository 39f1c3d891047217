export type { InstanceRecord, Mutation, Store, StoreHealth, StoreKind, StoreSnapshot } from './store.js';
