// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * Layering rules (see ../shared/STYLE.md): dependencies point down, and folders meet only through index.ts.
 * Each entry forbids a folder from importing the layers above it. A later block's setting of the rule replaces an
 * earlier one's for the files both match, so every block repeats THROUGH_INDEX.
 */
const THROUGH_INDEX = {
  // A relative path that descends into a folder and names a file there other than its index.js. Tests may still reach
  // the shared fixtures in test/fixtures/ and a folder's contract suite (*.contract.ts), which index.ts cannot export.
  regex: String.raw`^\.\.?/(\.\./)*(?!test/)([^./][^/]*/)+(?!index\.js$|[^/]*\.contract\.js$)[^/]+$`,
  message:
    "Import another folder only through its index.ts: the folder's other files are its internals and may change.",
};
/** `../name/*` for each folder: its index and anything else in it. */
const folders = (...names) => names.map((name) => `../${name}/*`);
const layer = (files, patterns, message) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      { patterns: [THROUGH_INDEX, ...(patterns.length > 0 ? [{ group: patterns, message }] : [])] },
    ],
  },
});

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'coverage/',
      'data/',
      '.tmp/',
      'examples/**/*.mjs',
      'bench/**/*.mjs',
      'ui/build.mjs',
      'eslint.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      'max-params': ['error', 3],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `x as T` after a bounds check reads better than `x!`, which strictTypeChecked forbids anyway.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  // Every file under src/ not named by a block below (server.ts, index.ts, config/, cli/, …).
  layer(['src/**/*.ts'], [], ''),
  layer(
    ['src/errors/**', 'src/wire/**'],
    [...folders('store', 'core', 'auth', 'api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config'), '../server.js'],
    'errors/ and wire/ are leaves: they import nothing of the project.',
  ),
  layer(
    ['src/store/**'],
    ['**/core/*', '**/auth/*', '**/api/*', '**/xmlrpc/*', '**/gateway/*', '**/sdk/*', '**/cli/*', '**/server.js'],
    'store/ sits under core/: it must not see the registry or its transports.',
  ),
  layer(
    ['src/core/**'],
    [
      ...[
        '../api/*',
        '../auth/*',
        '../xmlrpc/*',
        '../consul/*',
        '../eureka/*',
        '../gateway/*',
        '../sdk/*',
        '../cli/*',
        '../server.js',
        'fastify',
        'etcd3',
        '../store/*/*',
      ],
      ...['../checks/*', '../metrics/*', 'node:http', 'node:https', 'node:net', 'undici'],
    ],
    'core/ knows only the Store interface (store/index.ts): no transport, no concrete backend, no network I/O (the prober in checks/ calls it).',
  ),
  layer(
    ['src/cluster/**'],
    [
      ...folders('api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config', 'checks'),
      '../server.js',
      '../store/memory/*',
      '../store/sqlite/*',
      'fastify',
    ],
    'cluster/ is a registry node on etcd: it uses core/ and the etcd connection (store/etcd/index.ts); server.ts wires it in.',
  ),
  layer(
    ['src/subscribers/**'],
    [
      ...folders('api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config', 'checks', 'cluster', 'store', 'auth'),
      '../server.js',
      'fastify',
    ],
    'subscribers/ is the table of who follows the registry (issue #19): it reads core/ changes; api/ and server.ts use it.',
  ),
  layer(
    ['src/checks/**'],
    [...folders('api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config'), '../server.js', '../store/*/*', 'fastify'],
    'checks/ is the prober: it reaches the registry through core/ and server.ts wires it in.',
  ),
  layer(
    ['src/metrics/**'],
    ['../*/*', '../server.js'],
    'metrics/ is a leaf that every component may use: it imports nothing of the project.',
  ),
  layer(
    ['src/net/**'],
    [...folders('store', 'core', 'api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config', 'auth', 'wire'), '../server.js'],
    'net/ is a leaf (address ranges, request deadlines) that the registry and the gateway share: it imports errors/ only.',
  ),
  // auth/ is what every transport calls (issue #13), so it sits under them all and sees no request router; it
  // follows the tokens through the Store interface it is handed, of which it may import the types only (its unit
  // tests may also build a memory store).
  ...[false, true].map((test) => ({
    files: test ? ['src/auth/**/*.test.ts'] : ['src/auth/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            THROUGH_INDEX,
            {
              group: [
                ...folders(
                  'core',
                  'api',
                  'xmlrpc',
                  'gateway',
                  'sdk',
                  'cli',
                  'config',
                  'checks',
                  'cluster',
                  'balancing',
                ),
                '../server.js',
                'fastify',
              ],
              message:
                'auth/ sits under every transport that calls it: it imports errors/, wire/ and store/ types only.',
            },
            {
              group: test ? ['../store/etcd/*', '../store/sqlite/*'] : ['../store/*'],
              allowTypeImports: true,
              message: 'auth/ may name the Store types (store/index.ts); server.ts hands it a store.',
            },
          ],
        },
      ],
    },
  })),
  layer(
    ['src/api/**', 'src/xmlrpc/**'],
    ['../cli/*', '../server.js', '../store/*/*', '../consul/*', '../eureka/*'],
    'Transports sit under server.ts and the CLI and reach the store only through core/.',
  ),
  // The DNS interface (issue #17) is a transport like api/: server.ts starts it, and it reads the registry through
  // core/'s queries and balancing/'s eligibility rule, never the store.
  layer(
    ['src/dns/**'],
    [
      ...folders('store', 'api', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config'),
      ...folders('checks', 'cluster', 'registrar', 'consul', 'eureka', 'subscribers'),
      '../server.js',
      'fastify',
    ],
    'dns/ sits under server.ts beside the other transports: it reads the registry through core/ only.',
  ),
  // Consul's HTTP API (issue #17) is a transport like xmlrpc/: it reuses the REST reads' blocking waits and answer
  // cache through api/index.ts, and only server.ts wires it in.
  layer(
    ['src/consul/**'],
    [
      ...folders('store', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config', 'checks', 'cluster', 'balancing', 'registrar'),
      ...folders('dns', 'eureka', 'metrics'),
      '../server.js',
    ],
    'consul/ is a transport: it may import core/, auth/, wire/, errors/, net/ and api/ (through its index.ts); server.ts wires it in.',
  ),
  layer(
    ['src/eureka/**'],
    [
      ...folders('store', 'xmlrpc', 'gateway', 'sdk', 'cli', 'config', 'checks', 'cluster', 'balancing', 'registrar'),
      ...folders('consul', 'dns', 'metrics'),
      '../server.js',
    ],
    'eureka/ is a transport (issue #18): it may import core/, auth/, wire/, errors/ and api/ (through its index.ts); server.ts wires it in.',
  ),
  layer(
    ['src/gateway/**'],
    ['../cli/*', '../server.js', '../store/*', '../core/*', '../api/*', '../xmlrpc/*'],
    'The gateway follows the registry through the SDK, as it would a remote one: it never imports core/ or the store.',
  ),
  layer(
    ['src/registrar/**'],
    [
      ...folders('core', 'store', 'auth', 'api', 'xmlrpc', 'gateway', 'cli', 'config', 'checks', 'cluster'),
      '../server.js',
    ],
    'The registrar (switchboard agent) reaches the registry through the SDK, as any third party would: never server code.',
  ),
  layer(
    ['src/sdk/**'],
    [
      ...folders('core', 'store', 'auth', 'api', 'xmlrpc', 'gateway', 'cli', 'config', 'checks'),
      '../server.js',
      'fastify',
      'better-sqlite3',
    ],
    'The SDK speaks HTTP only: it must never import server code (core/ least of all).',
  ),
  // The web dashboard (issue #16) runs in a browser: ui/tsconfig.json gives it the DOM's types (and globals) and no
  // Node's. It talks HTTP like any client: the browser-safe SDK and the wire shapes, nothing else of the project.
  {
    files: ['ui/**/*.ts', 'ui/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: String.raw`^(\.\./)+src/(?!sdk/client\.js$|wire/index\.js$)`,
              message:
                'The dashboard is a client of the registry: it may import src/sdk/client.ts and src/wire/index.ts only.',
            },
            { regex: '^node:', message: 'The dashboard runs in a browser: no Node built-ins.' },
          ],
        },
      ],
    },
  },
  prettier,
);
