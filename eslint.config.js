import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.devcluster/', 'coverage/', 'src/xds/generated/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // src/ is what ships (dist/src, the images): test helpers stay in test/support/.
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/test/**', '**/bench/**'], message: 'src/ must not import test or bench code (test helpers live in test/support/)' }] }],
    },
  },
  {
    files: ['**/*.js', 'tools/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['web/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The mesh page's script runs in the browser as an ES module (type-checked by web/tsconfig.json).
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'EventSource', 'fetch', 'URL', 'getComputedStyle', 'requestAnimationFrame', 'setTimeout', 'setInterval', 'clearInterval'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
