export type { CheckSpec, InstanceRecord, Mutation, Store, StoreHealth, StoreKind, StoreSnapshot } from './store.js';
