import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs the fast in-process tests that sit beside their module; `e2e` runs real
// processes (dispatcher, switch-sim, sipp, redis-server, stunnel) on loopback and is serialised so
// that port usage and CPU measurements do not interfere.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{shared,dispatcher,switch-sim,ops-api,bin}/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
