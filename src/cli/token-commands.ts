/**
 * `switchboard token create | list | revoke` (issue #13): access tokens, managed with an operator token (the first
 * one is the bootstrap token the registry writes to `<data-dir>/bootstrap-token`). Like the registration commands they
 * speak to the registry through the SDK only, print a readable line or table (JSON with `--json`), and a failure is
 * one line on stderr and exit code 1 (main.ts prints it).
 *
 * A secret appears once, in what `token create` prints; nothing else prints or logs one.
 */
import { InvalidArgumentError, RegistryClient } from '../sdk/index.js';
import type { TokenCreateBody, TokenInfo } from '../sdk/index.js';
import { formatPolicySpec, parseDuration } from '../wire/index.js';
import { clientOptions, table, toJson } from './client-output.js';
import type { ParsedFlags } from './flags.js';
import type { Output } from './registration-commands.js';
import { CLIENT_FLAGS } from '../config/index.js';

const TOKEN_USAGE = `Access tokens (operator only; registry from --registry URL[,URL…] or SWITCHBOARD_REGISTRY, default
http://127.0.0.1:8900; the operator token from --token, --token-file FILE, SWITCHBOARD_TOKEN or SWITCHBOARD_TOKEN_FILE;
for an https:// registry, --ca FILE (SWITCHBOARD_CA) and --cert FILE --key FILE (SWITCHBOARD_CERT, SWITCHBOARD_KEY);
--json prints JSON):
  switchboard token create --name NAME [--read GLOB]… [--write GLOB]… [--operator] [--ttl D]
                       prints the new token's id and its secret, which is shown this once: store it now.
                       GLOBs name services, * matching any run of characters (pay*, *); write implies read;
                       --operator may do everything, tokens included; --ttl 24h (bare numbers are seconds),
                       default until revoked
  switchboard token list               every token: id, name, policy, created, expires (never a secret)
  switchboard token revoke ID          no registry node accepts the token from then on`;

type TokenVerb = 'create' | 'list' | 'revoke';

/** Flags every token command takes. */
const COMMON = [...CLIENT_FLAGS, 'json', 'help'];

const ALLOWED: Record<TokenVerb, readonly string[]> = {
  create: ['name', 'read', 'write', 'operator', 'ttl'],
  list: [],
  revoke: [],
};

/** Runs `switchboard token VERB …`. */
export async function tokenCommand(flags: ParsedFlags, out: Output = process.stdout): Promise<void> {
  const [verb, ...args] = flags.positionals;
  if (flags.values['help'] || verb === undefined || verb === 'help') {
    out.write(`${TOKEN_USAGE}\n`);
    return;
  }
  if (verb !== 'create' && verb !== 'list' && verb !== 'revoke') {
    throw new InvalidArgumentError(`token: unknown command "${verb}" (create, list or revoke; try --help)`);
  }
  const allowed = new Set([...COMMON, ...ALLOWED[verb]]);
  for (const name of Object.keys(flags.all)) {
    if (!allowed.has(name)) throw new InvalidArgumentError(`token ${verb}: unknown option --${name}`);
  }
  const json = flags.values['json'] === 'true';
  const client = new RegistryClient(clientOptions(flags));
  switch (verb) {
    case 'create': {
      noArguments(verb, args);
      const created = await client.createToken(createBody(flags));
      if (json) {
        out.write(toJson(created));
        return;
      }
      out.write(
        `${fields([
          ['id', created.id],
          ['name', created.name],
          ['policy', formatPolicySpec(created.policy)],
          ['expires', created.expiresAt ?? 'never (until revoked)'],
          ['secret', created.secret],
        ])}The secret is shown only this once (the registry keeps its hash): store it now, e.g. in a file for --token-file.\n`,
      );
      return;
    }
    case 'list': {
      noArguments(verb, args);
      const tokens = await client.listTokens();
      if (json) {
        out.write(toJson({ tokens }));
        return;
      }
      out.write(
        tokens.length === 0 ? 'no tokens\n' : table(['ID', 'NAME', 'POLICY', 'CREATED', 'EXPIRES'], tokens.map(row)),
      );
      return;
    }
    case 'revoke': {
      const [id, ...extra] = args;
      if (id === undefined || id === '')
        throw new InvalidArgumentError('token revoke: give the token id ("switchboard token revoke ID")');
      noArguments(verb, extra);
      const revoked = await client.revokeToken(id);
      out.write(
        json
          ? toJson(revoked)
          : `revoked token ${revoked.id} "${revoked.name}" (${formatPolicySpec(revoked.policy)})\n`,
      );
      return;
    }
  }
}

function createBody(flags: ParsedFlags): TokenCreateBody {
  const { values, all } = flags;
  const name = values['name'];
  if (name === undefined || name === '') throw new InvalidArgumentError('token create: --name is required');
  const body: TokenCreateBody = { name };
  if (all['read']) body.read = all['read'].flatMap(globs);
  if (all['write']) body.write = all['write'].flatMap(globs);
  if (values['operator'] === 'true') body.operator = true;
  const ttl = values['ttl'];
  if (ttl !== undefined) {
    // Bare numbers are seconds, as on the wire; checked here so a typo is named as the flag the user typed.
    body.ttl = /^\d+(\.\d+)?$/.test(ttl) ? Number(ttl) : ttl;
    parseDuration(body.ttl, '--ttl');
  }
  if (body.read === undefined && body.write === undefined && body.operator === undefined) {
    throw new InvalidArgumentError('token create: give at least one of --read GLOB, --write GLOB or --operator');
  }
  return body;
}

/** `--read a,b` works like `--read a --read b`. */
function globs(raw: string): string[] {
  return raw
    .split(',')
    .map((glob) => glob.trim())
    .filter((glob) => glob !== '');
}

function noArguments(verb: TokenVerb, extra: readonly string[]): void {
  if (extra.length > 0) throw new InvalidArgumentError(`token ${verb}: unexpected argument "${extra.join(' ')}"`);
}

/* ---- printing ---- */

function row(token: TokenInfo): string[] {
  return [token.id, token.name, formatPolicySpec(token.policy), token.createdAt, token.expiresAt ?? 'never'];
}

function fields(rows: [string, string][]): string {
  return rows.map(([key, value]) => `${`${key}:`.padEnd(9)}${value}\n`).join('');
}
