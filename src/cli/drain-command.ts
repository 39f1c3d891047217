/**
 * `switchboard drain --service S --id I [--wait 30s]` (issue #19): takes an instance out of discovery and returns once
 * every live subscriber of its service (SDK watches, Discovery caches, gateways) has stopped routing to it, or when
 * the wait runs out. For systemd `ExecStop=` before the process is signalled, and Kubernetes `preStop`.
 *
 * Exit status: 0 when every subscriber caught up; 3 when the wait ran out first (the answer names who was behind);
 * 1 on an error (unknown instance, no permission, registry unreachable).
 */
import { InvalidArgumentError, RegistryClient } from '../sdk/index.js';
import { clientOptions, toJson } from './client-output.js';
import type { ParsedFlags } from './flags.js';
import { CLIENT_FLAGS } from '../config/index.js';

export const DRAIN_USAGE = `usage: switchboard drain --service NAME --id ID [--wait 30s] [--json]

Takes the instance out of discovery (maintenance "draining") and waits until every live subscriber of the service
(SDK watches, Discovery caches, gateways, on every registry node) has applied that, or until --wait runs out.
Requests already sent to the instance are not cut: stop the process after this returns.

options:
  --service NAME   the instance's service
  --id ID          the instance's id
  --wait DURATION  how long to wait for the subscribers (default 30s; the registry caps it at --subscribers-max-drain-wait)
  --json           print the registry's answer as JSON
  --registry URL   registry node(s), comma-separated (env SWITCHBOARD_REGISTRY), with --token, --ca, --cert, --key

exit status: 0 every subscriber caught up; 3 the wait ran out first (who was behind is printed); 1 an error`;

const ALLOWED = new Set(['service', 'id', 'wait', 'json', 'help', ...CLIENT_FLAGS]);

/** Runs the drain; resolves with the process's exit status. */
export async function drainCommand(
  flags: ParsedFlags,
  out: { write(text: string): unknown } = process.stdout,
): Promise<number> {
  for (const name of Object.keys(flags.all)) {
    if (!ALLOWED.has(name)) throw new InvalidArgumentError(`drain: unknown option --${name}`);
  }
  if (flags.positionals.length > 0)
    throw new InvalidArgumentError(`drain: unexpected argument "${flags.positionals.join(' ')}"`);
  const service = flags.values['service'];
  const id = flags.values['id'];
  if (service === undefined || id === undefined) throw new InvalidArgumentError('drain: give --service and --id');
  const wait = flags.values['wait'] ?? '30s';
  const client = new RegistryClient(clientOptions(flags));
  const answer = await client.drain(service, id, { wait });
  if (flags.values['json'] === 'true') out.write(toJson(answer));
  else if (answer.complete) {
    out.write(`drained ${service}/${id}: ${answer.caughtUp.length} subscriber(s) applied index ${answer.index}\n`);
  } else {
    const behind = answer.behind.map((s) => `${s.name} (${s.id} on ${s.node}, applied ${s.applied ?? 'unknown'})`);
    out.write(`drain of ${service}/${id} ran out of time after ${answer.waitedMs} ms; behind: ${behind.join(', ')}\n`);
  }
  return answer.complete ? 0 : 3;
}
