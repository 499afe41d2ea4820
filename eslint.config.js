import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers (docs/architecture.md), top to bottom; imports point down only:
 *   inbound adapters and start-up (ADAPTERS)
 *   access: the rules; it owns its ports (access/ports.ts)
 *   audit, provisioners, outbox
 *   mfa (TOTP mechanics, used by access); db, config, secrets, log
 * Each zone says what a folder may not import. Within a layer, only what is listed is
 * forbidden (adapters may use each other; outbox uses audit's sequencer).
 */
const ADAPTERS = [
  'src/slack',
  'src/cli',
  'src/sandbox',
  'src/background',
  'src/scheduler',
  'src/gateway',
  'src/watch',
  'src/http',
  'src/metrics',
  'src/boot',
  'src/siem',
  'src/main.ts',
];
const BELOW_ACCESS = ['src/audit', 'src/provisioners', 'src/outbox'];
const LAYER_ZONES = [
  {
    target: 'src/access',
    from: [...ADAPTERS, 'src/provisioners'],
    message:
      'access/ knows nothing of its adapters: declare what it needs in access/ports.ts and let them implement it.',
  },
  { target: 'src/provisioners', from: ADAPTERS },
  {
    target: 'src/provisioners',
    from: 'src/access',
    except: ['./ports.ts'],
    message: 'A provisioner implements access/ports.ts and imports nothing else of access/.',
  },
  { target: ['src/audit', 'src/outbox'], from: [...ADAPTERS, 'src/access', 'src/provisioners'] },
  {
    target: 'src/mfa',
    from: [...ADAPTERS, 'src/access', ...BELOW_ACCESS],
    message: 'mfa/ is TOTP mechanics: the rules that use them are in access/mfa.ts.',
  },
  {
    target: ['src/db', 'src/config', 'src/secrets', 'src/log.ts'],
    from: [...ADAPTERS, 'src/access', ...BELOW_ACCESS, 'src/mfa'],
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'dist/', 'coverage/', 'test-artifacts/', 'scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs'] })],
    },
    rules: {
      // Any cycle of runtime imports, across the whole graph (about 2 s of the lint; no
      // maxDepth needed). import-x does not follow `import type`, which is erased before run
      // time; the zones below hold type imports to the layer order as well.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: LAYER_ZONES }] },
  },
  {
    // The sandbox's page runs in the browser.
    files: ['src/sandbox/page/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/cli/**', 'bench/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
);
