export type { CheckSpec, InstanceRecord, Mutation, Store, StoreHealth } from './store.js';
