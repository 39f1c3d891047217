import { describeStoreContract } from '../store.contract.js';
import { createMemoryStore } from './memory-store.js';

describeStoreContract('memory', () => createMemoryStore(), {
  skip: { reopen: 'the memory store keeps nothing once closed' },
});
