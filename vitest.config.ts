import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
    // Two cores here: keep one free for the rest of the machine.
    poolOptions: { threads: { maxThreads: 2 }, forks: { maxForks: 2 } },
  },
});
