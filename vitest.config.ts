import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// One runner for the whole repository. Each workspace keeps its tests in <pkg>/test.
export default defineConfig({
  // Tests run against the sources, so they need no build first.
  resolve: { alias: { "@gantry/crds": fileURLToPath(new URL("./crds/src/index.ts", import.meta.url)) } },
  test: {
    include: ["{crds,operator,trainer,dataloader,test}/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    reporters: ["default", "./test/reporters/summary.ts"],
  },
});
