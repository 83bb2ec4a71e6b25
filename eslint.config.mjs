// ESLint (`npm run lint`): the type-aware typescript-eslint rules over the TypeScript sources and tests,
// the plain recommended rules over the .mjs scripts. Formatting is prettier's (`npm run format:check`);
// eslint-config-prettier, last, turns off every rule that would disagree with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-test/',
      'out/',
      'test-results/',
      '.vscode-test/',
      'test/bench/node_modules/',
      // AssemblyScript: TypeScript syntax over other types (v128, @inline); built by asc, not tsc.
      'src/engine/cpu/wasm/assembly/',
      'test/bench/assembly/',
      // Imports @tensorflow/tfjs from test/bench/node_modules, installed only to run that benchmark;
      // tsconfig.json leaves it out for the same reason.
      'test/bench/webgpuVsTfjs.ts',
      // Data: real files copied from their projects, and generated fixtures.
      'test/corpus/',
      'test/fixtures/',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // The reasons for a type-aware linter, named so that they stay on whatever the preset becomes.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      // A leading underscore marks a parameter or element that a signature or a destructuring needs
      // and the body does not; `{ dropped, ...rest }` copies an object without one key.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `ModelSpec | unknown` and `FilterName | string` are deliberate: the union says what is expected,
      // while the type admits the unchecked input (JSON, a message) that the function validates itself.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // An async function without await still turns a synchronous throw into a rejection, which is
      // what callers that take a promise (VS Code's serializer, the engine's option factories) expect.
      '@typescript-eslint/require-await': 'off',
      // Shapes print as `${shape}` ("1,3,224,224") in error messages on purpose; `never` appears in
      // the exhaustiveness checks' messages.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true, allowArray: true, allowNever: true },
      ],
      // Passing on a caught value (unknown) or an AbortSignal's reason (any) keeps it unchanged, as
      // only-throw-error allows for throw.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // The sanitisers of untrusted text (the CLI's terminal output, hover markdown) match control
      // characters on purpose; that is the only place the code writes them in a regular expression.
      'no-control-regex': 'off',
      // `let { a, b } = ...` where only some are reassigned reads better than splitting the destructuring.
      'prefer-const': ['error', { destructuring: 'all' }],
    },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // The WebGPU rows copy the `webgpu` package's globals (GPUBufferUsage, GPUMapMode) onto globalThis.
    files: ['scripts/bench.mjs'],
    languageOptions: { globals: { GPUBufferUsage: 'readonly', GPUMapMode: 'readonly' } },
  },
  prettier,
);
