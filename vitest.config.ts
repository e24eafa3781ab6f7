import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// One runner for the whole repository, two projects:
//   unit         <pkg>/test/**: pure, no services
//   integration  test/integration/** and test/e2e/**: against the local control plane, Redis and S3, which
//                global-setup brings up
export default defineConfig({
  // Tests run against the sources, so they need no build first.
  resolve: {
    alias: {
      "@gantry/crds": fileURLToPath(new URL("./crds/src/index.ts", import.meta.url)),
      "@gantry/dataloader": fileURLToPath(new URL("./dataloader/src/index.ts", import.meta.url)),
      "@gantry/operator": fileURLToPath(new URL("./operator/src/index.ts", import.meta.url)),
      "@gantry/trainer": fileURLToPath(new URL("./trainer/src/index.ts", import.meta.url)),
    },
  },
  test: {
    exclude: ["**/node_modules/**", "**/dist/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    reporters: ["default", "./test/reporters/summary.ts"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["{crds,operator,trainer,dataloader}/test/**/*.test.ts", "test/node-agent/test/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          // The end-to-end stories share the cluster, so they run in this project, one file at a time with the rest.
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          globalSetup: ["./test/integration/global-setup.ts"],
          // One file at a time: some tests restart the API server or reshape node pools for everyone.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
