export type {
  ChangeFeedListener,
  CheckSpec,
  DeleteCause,
  InstanceRecord,
  Mutation,
  Store,
  StoreChange,
  StoreHealth,
  StoredCheck,
  StoredHealth,
  WriteOutcome,
} from './store.js';
