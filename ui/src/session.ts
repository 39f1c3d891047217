import { RegistryError } from '../../src/sdk/client.js';
import type { RegistryClient, TokenSelf } from '../../src/sdk/client.js';
import type { LoggedEvent } from './event-log.js';
import type { RegistryModel } from './model.js';

/** What every view is handed: the client with the user's token, who that is, and the live model. */
export interface Session {
  client: RegistryClient;
  /** Who the registry takes the user for (undefined until it answers, or when it refuses the token). */
  self: TokenSelf | undefined;
  model: RegistryModel;
  log: readonly LoggedEvent[];
  now: number;
  /** Reports a failed action in the page's alert area. */
  fail: (err: unknown) => void;
}

/** An error as the page shows it: the registry's stable code first. */
export function messageOf(err: unknown): string {
  if (err instanceof RegistryError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
