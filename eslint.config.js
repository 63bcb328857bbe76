import js from '@eslint/js'
import svelte from 'eslint-plugin-svelte'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/** What the client core may not import (docs/ARCHITECTURE.md). */
const coreBoundaries = [
  { group: ['**/ui/**'], message: 'The client core does not know the UI.' },
  { group: ['**/signaling/**'], message: 'The client core talks to the server over the wire only.' },
]

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/', 'test/e2e/screenshots/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...svelte.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', '.ci/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.svelte'],
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    // Command-line tools and benchmarks print their results.
    files: ['bench/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  // Boundaries between the parts (docs/ARCHITECTURE.md): a crossing fails `npm run lint`.
  {
    files: ['client/ui/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/core/**', '!**/core/index.ts'],
              message: 'The UI reaches the client core only through client/core/index.ts.',
            },
            {
              group: ['**/crypto/**'],
              message: 'The UI does no cryptography: client/core/index.ts offers what it needs.',
            },
            {
              group: ['**/signaling/**'],
              message: 'The UI talks to the server only through the client core.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/e2e/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/client/core/**', '!**/client/core/index.ts'],
              message: 'Browser tests use the client core through client/core/index.ts (or a test helper).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['client/core/**'],
    ignores: ['client/core/store/databases.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'idb',
              importNames: ['openDB', 'deleteDB'],
              message: 'Only client/core/store/databases.ts opens IndexedDB; its owners take what it opens.',
            },
          ],
          patterns: coreBoundaries,
        },
      ],
    },
  },
  {
    files: ['client/core/store/databases.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: coreBoundaries }] },
  },
  {
    files: ['crypto/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!shared/)',
              message: 'crypto/ imports only itself and shared/ (the wire limits).',
            },
            {
              regex: '^(?!\\.|libsodium-wrappers-sumo$|@sinclair/typebox)',
              message: 'crypto/ is pure: libsodium and TypeBox only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./', message: 'shared/ imports nothing outside itself.' },
            { regex: '^(?!\\.|@sinclair/typebox)', message: 'shared/ depends on TypeBox only.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
)
