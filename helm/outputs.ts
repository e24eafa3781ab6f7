// Every file `make crds` generates in the chart and its docs, from their one source each. Reading only: the CLI writes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderCrdYaml } from "../crds/src/crd/render.js";
import { parseOperatorRbac, renderRbacRulesTemplate } from "./render/rbac-rules.js";
import { renderValuesSchemaJson, valuesJsonSchema } from "./render/values-schema-json.js";
import { renderValuesTable, spliceValuesTable } from "./render/values-table.js";
import { renderValuesYaml } from "./render/values-yaml.js";
import { ChartValues } from "./values-schema.js";

export const REPO_ROOT = join(import.meta.dirname, "..");
export const CHART_DIR = join(REPO_ROOT, "helm", "gantry");
export const RBAC_SOURCE = "operator/deploy/rbac.yaml";
const OPERATIONS_DOC = "docs/operations.md";

export interface GeneratedFile {
  /** Relative to the repository root. */
  path: string;
  content: string;
}

export function generatedFiles(root: string = REPO_ROOT): GeneratedFile[] {
  const jsonSchema = valuesJsonSchema(ChartValues);
  const rbac = parseOperatorRbac(readFileSync(join(root, RBAC_SOURCE), "utf8"), RBAC_SOURCE);
  const doc = readFileSync(join(root, OPERATIONS_DOC), "utf8");
  return [
    // Byte for byte the file `make crds` writes to crds/, so one test of equality covers both.
    { path: "helm/gantry/crds/llmtrainingjob.yaml", content: renderCrdYaml() },
    { path: "helm/gantry/values.schema.json", content: renderValuesSchemaJson(ChartValues) },
    { path: "helm/gantry/values.yaml", content: renderValuesYaml(ChartValues.parse({}), jsonSchema) },
    { path: "helm/gantry/templates/_rbac-rules.tpl", content: renderRbacRulesTemplate(rbac, RBAC_SOURCE) },
    { path: OPERATIONS_DOC, content: spliceValuesTable(doc, renderValuesTable(jsonSchema), OPERATIONS_DOC) },
  ];
}
