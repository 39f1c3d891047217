#!/usr/bin/env node
// Runs benchmark sections and writes them into bench/RESULTS.md. `node bench/run.mjs [name...]` runs only the named
// sections (default: all, in order) and replaces only their part of RESULTS.md, keeping the others as measured.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';

const ORDER = ['registry', 'auth', 'registration', 'checker', 'fanout', 'gateway', 'cluster', 'fuzz'];
// Run only when named (`npm run fuzz`): it takes minutes and measures robustness, not speed.
const ON_REQUEST = new Set(['fuzz']);
const RESULTS = new URL('./RESULTS.md', import.meta.url);

const asked = process.argv.slice(2);
const names =
  asked.length > 0
    ? asked
    : ORDER.filter((n) => !ON_REQUEST.has(n) && existsSync(new URL(`./${n}.mjs`, import.meta.url)));

let text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
const header = `# Benchmark results

Written by \`npm run bench\` (bench/run.mjs). Each section is measured side by side with its baseline in the same run:
read the ratios, not the absolute figures — the machines are shared and noisy.
`;
if (!text.startsWith('# Benchmark results')) text = header;

for (const name of names) {
  const started = Date.now();
  process.stderr.write(`bench: ${name}…\n`);
  const mod = await import(`./${name}.mjs`);
  const body = await mod.default();
  const stamp = `_${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · node ${process.version} · ${os.cpus().length} cores · ${Math.round(os.totalmem() / 2 ** 30)} GiB · ${((Date.now() - started) / 1000).toFixed(0)} s_`;
  const section = `<!-- bench:${name} -->\n${body.trim()}\n\n${stamp}\n<!-- /bench:${name} -->`;
  const pattern = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`);
  if (pattern.test(text)) {
    text = text.replace(pattern, () => section);
  } else {
    // Keep sections in ORDER: insert before the first later section that is present.
    const later = ORDER.slice(ORDER.indexOf(name) + 1)
      .map((n) => text.indexOf(`<!-- bench:${n} -->`))
      .filter((i) => i >= 0);
    const at = later.length > 0 ? Math.min(...later) : text.length;
    text = `${text.slice(0, at).trimEnd()}\n\n${section}\n\n${text.slice(at).trimStart()}`.trimEnd() + '\n';
  }
  writeFileSync(RESULTS, text);
  process.stdout.write(`${body.trim()}\n\n`);
}
