import { defineConfig } from 'vitest/config';

/**
 * `npm run test:e2e`: the standalone playground in headless Chromium, and VS Code itself (code-server):
 * the playground panel and the editor features. One file at a time: one browser.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
