import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Training tests are CPU heavy; running files in parallel on 2 cores only thrashes.
    fileParallelism: false,
    pool: 'forks',
  },
});
