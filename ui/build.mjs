/**
 * Builds the web dashboard (issue #16) into dist/ui/: one JavaScript and one CSS file, named by a hash of their
 * content (the registry serves them as immutable), and index.html naming them (served no-cache).
 * Run by `npm run build`; `node ui/build.mjs --watch` rebuilds on change.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outdir = here('../dist/ui/');
const watch = process.argv.includes('--watch');

/** Writes index.html with the bundle's hashed names, and says how large the bundle is. */
const writeIndex = {
  name: 'index-html',
  setup(build) {
    build.onEnd(async (result) => {
      if (result.errors.length > 0 || !result.metafile) return;
      const outputs = Object.entries(result.metafile.outputs).filter(([path]) => !path.endsWith('.map'));
      const named = (ext) => outputs.filter(([path]) => path.endsWith(ext)).map(([path]) => basename(path));
      const template = await readFile(here('index.html'), 'utf8');
      const html = template
        .replace(
          '<!-- styles -->',
          named('.css')
            .map((name) => `<link rel="stylesheet" href="assets/${name}" />`)
            .join(''),
        )
        .replace(
          '<!-- scripts -->',
          named('.js')
            .map((name) => `<script type="module" src="assets/${name}"></script>`)
            .join(''),
        );
      await writeFile(`${outdir}index.html`, html);
      const bytes = outputs.reduce((sum, [, output]) => sum + output.bytes, 0);
      console.log(
        `dashboard: dist/ui/ (${(bytes / 1024).toFixed(1)} KiB: ${outputs.map(([path]) => basename(path)).join(', ')})`,
      );
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const options = {
  entryPoints: [here('src/main.tsx')],
  bundle: true,
  outdir: `${outdir}assets`,
  entryNames: '[name]-[hash]',
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: !watch,
  // Source maps only while developing: the served bundle stays small.
  sourcemap: watch ? 'linked' : false,
  metafile: true,
  legalComments: 'eof',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: here('tsconfig.json'),
  logLevel: 'warning',
  plugins: [writeIndex],
};
if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
