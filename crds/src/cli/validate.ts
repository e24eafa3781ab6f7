// `gantry-validate FILE...`: checks LLMTrainingJob manifests offline with the same rules as the operator.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { parseJob } from "../parse.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: gantry-validate FILE.yaml [FILE.yaml ...]");
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  let docs;
  try {
    docs = parseAllDocuments(readFileSync(file, "utf8"));
  } catch (err) {
    console.error(`${file}: cannot read: ${(err as Error).message}`);
    failed++;
    continue;
  }
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${file}#${i + 1}` : file;
    if (doc.errors.length > 0) {
      console.error(`${where}: invalid YAML: ${doc.errors[0]?.message ?? ""}`);
      failed++;
      return;
    }
    const result = parseJob(doc.toJS());
    if (result.ok) {
      console.log(`${where}: valid (${result.job.metadata.name ?? result.job.metadata.generateName ?? "unnamed"})`);
      return;
    }
    failed++;
    for (const issue of result.issues) console.error(`${where}: ${issue.path || "(root)"}: ${issue.message}`);
  });
}
process.exit(failed === 0 ? 0 : 1);
