/**
 * What the signed-in token may do, mirrored from the registry's rule (src/wire/tokens.ts, issue #13) so the page
 * shows no control the registry would refuse: in a glob `*` stands for any run of characters, write implies read,
 * and operator may do everything. The registry still checks every request; this only hides what would fail.
 */
import type { TokenPolicy } from '../../src/sdk/client.js';

/** Whether a service glob (`pay*`, `*`, `payments`) matches the whole service name. */
export function globMatches(glob: string, service: string): boolean {
  const pattern = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(service);
}

export function canWrite(policy: TokenPolicy | undefined, service: string): boolean {
  if (!policy) return false;
  return policy.operator || policy.write.some((glob) => globMatches(glob, service));
}

export function canRead(policy: TokenPolicy | undefined, service: string): boolean {
  if (!policy) return false;
  return canWrite(policy, service) || policy.read.some((glob) => globMatches(glob, service));
}
