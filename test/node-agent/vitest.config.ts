// The node agent's unit tests (pure functions, no cluster): npx vitest run --config test/node-agent/vitest.config.ts
// They live outside the root config's unit project, whose include names the four packages only.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: { include: ["test/node-agent/test/**/*.test.ts"], pool: "forks", maxWorkers: 2 },
});
