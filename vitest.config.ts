import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['relay/test/**/*.test.ts', 'chart/tests/**/*.test.ts', 'ci/**/*.test.ts', 'docs/tests/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'ci/sdk/**'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
