import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Generous: the integration tests take 30-70 s on a quiet 2-core machine and 3x that on a loaded one.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Two cores: run test files in two forked processes so tfjs/wasm work does not starve Temporal.
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report is what .ci/run counts passed/failed tests from.
    reporters: ['default', 'json'],
    outputFile: { json: '.istar/test-report.json' },
  },
});
