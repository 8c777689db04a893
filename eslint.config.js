// @ts-check
// eslint 9 flat config: typescript-eslint's type-aware recommended rules, plus a few that catch
// real bugs; eslint-config-prettier last, so formatting is prettier's alone (`npm run format:check`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['dist/', 'node_modules/', '.cache/', '.venv*/', 'runs/', 'data/', 'bench/results/', 'bench/_*.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      // tsconfig.json builds src/ only; tsconfig.eslint.json adds test/, bench/, scripts/, examples/.
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Added: bugs these catch are real here.
      eqeqeq: ['error', 'always', { null: 'ignore' }], // `x == null` (null or undefined) is the house idiom
      'no-template-curly-in-string': 'error', // '${x}' in a plain string: meant a template literal
      'no-self-compare': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'], // `return p` in try skips the catch
      '@typescript-eslint/switch-exhaustiveness-check': 'error', // new plugin kinds, backends, statuses
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true, // `const { sweep: _, ...rest } = config` drops a key on purpose
        },
      ],
      // no-floating-promises, no-misused-promises, await-thenable come on with recommendedTypeChecked.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }], // async listeners (process.on, port.on) are deliberate

      // Off: they fight deliberate style.
      '@typescript-eslint/no-explicit-any': 'off', // plugin option schemas, parsed YAML/JSON and tfjs internals are `any` on purpose
      '@typescript-eslint/no-unsafe-assignment': 'off', // the no-unsafe-* family: ~900 hits, all `any` from the same boundaries
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off', // redundant casts are noise, not bugs (74; `--fix` can drop them later)
      '@typescript-eslint/require-await': 'off', // async to satisfy an interface (DataSource, oclif's defaultHelp)
      '@typescript-eslint/restrict-template-expressions': 'off', // `[${shape}]` is deliberate; no-base-to-string catches [object Object]
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/unbound-method': 'off', // expect(obj.method).toBeUndefined(), prototype method swaps
      'no-regex-spaces': 'off', // tests match aligned CLI output literally
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unsafe-unary-minus': 'off', // untyped JS: `-child.pid` (a process group) reads as number | undefined
    },
  },
  prettier,
);
