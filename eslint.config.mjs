// Lint rules that keep the layers apart (ARCHITECTURE.md): the core is plain Node and never sees the fronts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', '.test-artifacts/', 'bench/results/', 'catalog/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The HTTP front and the device budgets reject control characters by name: that is what these patterns are for.
    files: ['src/core/http/**/*.ts', 'src/core/catalog/deviceLimits.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    rules: {
      // Retry loops in the test and bench scripts set a value before each try on purpose.
      'no-useless-assignment': 'off',
    },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        document: 'readonly',
        window: 'readonly',
        navigator: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
      },
    },
  },
  {
    // CommonJS scripts (the bench's `node -r` preload).
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', setImmediate: 'readonly' },
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/core is plain Node: the VS Code API belongs in src/extension.' }],
          patterns: [
            { group: ['**/extension', '**/extension/**'], message: 'src/core never imports a front.' },
            { group: ['**/cli', '**/cli/**'], message: 'src/core never imports a front.' },
          ],
        },
      ],
    },
  },
  {
    // A front sees the core through its one face, src/core/index.ts; the rest of src/core may change freely.
    files: ['src/extension/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/core/*', '**/core/**', '!**/core/index'],
              message: "A front imports the core only through src/core/index.ts ('../core').",
            },
          ],
        },
      ],
    },
  },
);
