// `make crds` (and `make crds-check` with --check): the chart's generated files. See helm/outputs.ts for the list.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generatedFiles, REPO_ROOT } from "../outputs.js";

const check = process.argv.includes("--check");
let stale = 0;
for (const { path, content } of generatedFiles()) {
  const file = join(REPO_ROOT, path);
  if (check) {
    let current = "";
    try {
      current = readFileSync(file, "utf8");
    } catch {
      current = "";
    }
    if (current !== content) {
      console.error(`${path} is out of date with its source: run make crds`);
      stale++;
    }
  } else {
    writeFileSync(file, content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
