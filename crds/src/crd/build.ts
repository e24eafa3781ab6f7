// Assembles the LLMTrainingJob CustomResourceDefinition from the zod schema and the cross-field rules.
import { CROSS_FIELD_RULES } from "../rules.js";
import { CATEGORIES, GROUP, KIND, LLMTrainingJob, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from "../schema/job.js";
import { nodeAt, toStructural, type JSONSchemaProps } from "./structural.js";

export interface CelValidation {
  rule: string;
  message: string;
  reason?: string;
  fieldPath?: string;
}

export const PRINTER_COLUMNS = [
  { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase." },
  { name: "Workers", type: "string", jsonPath: ".status.workersReady", description: "Ready/desired workers." },
  { name: "Layout", type: "string", jsonPath: ".status.parallelism.layout", description: "data × tensor × pipeline parallel" },
  { name: "Step", type: "integer", jsonPath: ".status.progress.step", description: "Last completed step." },
  { name: "Loss", type: "string", jsonPath: ".status.progress.loss", description: "Latest training loss." },
  { name: "Attempt", type: "integer", jsonPath: ".status.attempt", description: "Gang attempt number." },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
] as const;

/** The openAPIV3Schema of the CRD, with the CEL rules in place. */
export function buildOpenApiSchema(): JSONSchemaProps {
  const root = toStructural(LLMTrainingJob);
  const props = root.properties ?? {};
  // The API server owns these three: only their type and description may be given.
  props["apiVersion"] = { type: "string", description: "APIVersion of this object: gantry.dev/v1alpha1." };
  props["kind"] = { type: "string", description: "Kind of this object: LLMTrainingJob." };
  props["metadata"] = { type: "object" };
  delete root.required;
  root.required = ["spec"];
  for (const rule of CROSS_FIELD_RULES) {
    const node = nodeAt(root, rule.at);
    const validation: CelValidation = { rule: rule.cel, message: rule.message, reason: rule.reason };
    // fieldPath may only point into the schema, and metadata has none here.
    if (rule.field !== "" && !rule.field.startsWith(".metadata")) validation.fieldPath = rule.field;
    const list = (node["x-kubernetes-validations"] as CelValidation[] | undefined) ?? [];
    list.push(validation);
    node["x-kubernetes-validations"] = list;
  }
  return root;
}

export function buildCrd() {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { "app.kubernetes.io/part-of": "gantry" },
    },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: CATEGORIES },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: ".spec.workers", statusReplicasPath: ".status.workers.ready", labelSelectorPath: ".status.selector" },
          },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: { openAPIV3Schema: buildOpenApiSchema() },
        },
      ],
    },
  };
}
