/**
 * What the signed-in token may do, decided by the registry's own rule (`serviceGlobMatcher` in src/wire/tokens.ts,
 * issue #13) so the page shows no control the registry would refuse: in a glob `*` stands for any run of characters, write implies read,
 * and operator may do everything. The registry still checks every request; this only hides what would fail.
 */
import type { TokenPolicy } from '../../src/sdk/client.js';
import { serviceGlobMatcher } from '../../src/wire/index.js';

/** Whether a service glob (`pay*`, `*`, `payments`) matches the whole service name. */
export function globMatches(glob: string, service: string): boolean {
  return serviceGlobMatcher([glob])(service);
}

export function canWrite(policy: TokenPolicy | undefined, service: string): boolean {
  if (!policy) return false;
  return policy.operator || serviceGlobMatcher(policy.write)(service);
}

export function canRead(policy: TokenPolicy | undefined, service: string): boolean {
  if (!policy) return false;
  return canWrite(policy, service) || serviceGlobMatcher(policy.read)(service);
}
