import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: run test files in two forked processes so tfjs/wasm work does not starve Temporal.
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report is what .ci/run counts passed/failed tests from.
    reporters: ['default', 'json'],
    outputFile: { json: '.istar/test-report.json' },
  },
});
