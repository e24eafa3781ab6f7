// `make crds`: writes the CRD YAML and the API reference from the zod schema. With --check, fails if they are stale.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderApiDocs } from "../crd/api-docs.js";
import { renderCrdYaml } from "../crd/render.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const outputs: Array<[string, string]> = [
  [join(root, "crds", "llmtrainingjob.yaml"), renderCrdYaml()],
  [join(root, "docs", "api.md"), renderApiDocs()],
];

const check = process.argv.includes("--check");
let stale = 0;
for (const [path, content] of outputs) {
  if (check) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {
      current = "";
    }
    if (current !== content) {
      console.error(`${path} is out of date with crds/src/schema: run make crds`);
      stale++;
    }
  } else {
    writeFileSync(path, content);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
