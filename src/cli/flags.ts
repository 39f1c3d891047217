/** Command-line words split into positionals and `--name value` / `--name=value` / repeated flags. */
export interface ParsedFlags {
  positionals: string[];
  /** The last value of each flag (`true` flags hold "true"). */
  values: Record<string, string>;
  /** Every value of each flag, in order, for repeatable ones (`--tag a --tag b`). */
  all: Record<string, string[]>;
}

/** Flags that never take a value. */
const BOOLEAN_FLAGS = new Set([
  'json',
  'help',
  'exclusive',
  'route-by-name',
  'gateway-route-by-name',
  'insecure-no-auth',
  'operator',
]);

export function parseFlags(argv: readonly string[], booleans: ReadonlySet<string> = BOOLEAN_FLAGS): ParsedFlags {
  const parsed: ParsedFlags = { positionals: [], values: {}, all: {} };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--') {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('--') || word === '--') {
      parsed.positionals.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const name = word.slice(2, eq === -1 ? undefined : eq);
    let value: string;
    if (eq !== -1) value = word.slice(eq + 1);
    else if (booleans.has(name)) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new Error(`--${name} needs a value`);
      value = next;
      i += 1;
    }
    parsed.values[name] = value;
    (parsed.all[name] ??= []).push(value);
  }
  return parsed;
}
