// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * Layering rules (see ../shared/STYLE.md): dependencies point down, and folders meet only through index.ts.
 * Each entry forbids a folder from importing the layers above it.
 */
const layer = (files, patterns, message) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }],
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
  layer(
    ['src/errors/**', 'src/wire/**'],
    [
      '../store/*',
      '../core/*',
      '../api/*',
      '../xmlrpc/*',
      '../gateway/*',
      '../sdk/*',
      '../cli/*',
      '../config/*',
      '../server.js',
    ],
    'errors/ and wire/ are leaves: they import nothing of the project.',
  ),
  layer(
    ['src/store/**'],
    ['**/core/*', '**/api/*', '**/xmlrpc/*', '**/gateway/*', '**/sdk/*', '**/cli/*', '**/server.js'],
    'store/ sits under core/: it must not see the registry or its transports.',
  ),
  layer(
    ['src/core/**'],
    [
      ...[
        '../api/*',
        '../xmlrpc/*',
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
    ['src/checks/**'],
    [
      '../api/*',
      '../xmlrpc/*',
      '../gateway/*',
      '../sdk/*',
      '../cli/*',
      '../config/*',
      '../server.js',
      '../store/*/*',
      'fastify',
    ],
    'checks/ is the prober: it reaches the registry through core/ and server.ts wires it in.',
  ),
  layer(
    ['src/metrics/**'],
    ['../*/*', '../server.js'],
    'metrics/ is a leaf that every component may use: it imports nothing of the project.',
  ),
  layer(
    ['src/api/**', 'src/xmlrpc/**', 'src/gateway/**'],
    ['../cli/*', '../server.js', '../store/*/*'],
    'Transports sit under server.ts and the CLI and reach the store only through core/.',
  ),
  layer(
    ['src/sdk/**'],
    [
      '../core/*',
      '../store/*',
      '../api/*',
      '../xmlrpc/*',
      '../gateway/*',
      '../cli/*',
      '../config/*',
      '../server.js',
      'fastify',
      'better-sqlite3',
    ],
    'The SDK speaks HTTP only: it must never import server code.',
  ),
  prettier,
);
