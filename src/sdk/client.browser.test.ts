/**
 * `switchboard/client` must load in a browser (issue #11): bundled for the browser, it may leave no import
 * unresolved (a Node built-in would be one) and may not reach for Node's `process` or `Buffer`. Bundling is done by
 * rolldown, the bundler vitest's vite runs on.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';
import { describe, expect, it } from 'vitest';

interface BrowserBundle {
  code: string;
  /** Imports left outside the bundle. */
  imports: string[];
  /** Warnings about imports the browser resolution could not find. */
  unresolved: string[];
}

async function bundleForBrowser(entry: string): Promise<BrowserBundle> {
  const unresolved: string[] = [];
  const result = await build({
    input: fileURLToPath(new URL(entry, import.meta.url)),
    platform: 'browser',
    write: false,
    logLevel: 'warn',
    onLog: (_level, log) => {
      if (log.code === 'UNRESOLVED_IMPORT') unresolved.push(log.message);
    },
    output: { format: 'esm' },
  });
  const chunks = result.output.flatMap((file) => (file.type === 'chunk' ? [file] : []));
  return {
    code: chunks.map((chunk) => chunk.code).join('\n'),
    imports: chunks.flatMap((chunk) => chunk.imports),
    unresolved,
  };
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

describe('the switchboard/client entry', () => {
  it('bundles for the browser without Node built-ins', async () => {
    const bundle = await bundleForBrowser('./client.ts');
    expect(bundle.unresolved).toEqual([]);
    expect(bundle.imports.filter((name) => NODE_BUILTINS.has(name))).toEqual([]);
    expect(bundle.imports).toEqual([]);
    expect(bundle.code).not.toMatch(/\bprocess\.(on|once|env|exit|kill)\b/);
    expect(bundle.code).not.toMatch(/\bBuffer\./);
    expect(bundle.code).toContain('RegistryClient');
  });

  it('is told apart from the agent, which needs Node', async () => {
    const bundle = await bundleForBrowser('./agent.ts');
    expect(bundle.imports.some((name) => NODE_BUILTINS.has(name))).toBe(true);
  });

  it('makes the package root together with the agent', async () => {
    const [root, client, agent] = await Promise.all([
      import('./index.js'),
      import('./client.js'),
      import('./agent.js'),
    ]);
    expect(Object.keys(root).sort()).toEqual([...Object.keys(client), ...Object.keys(agent)].sort());
    expect(Object.keys(client)).not.toContain('registerSelf');
  });
});
