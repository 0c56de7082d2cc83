import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['relay/test/**/*.test.ts', 'chart/tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
