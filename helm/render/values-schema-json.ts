// values.schema.json: the chart values' zod schema as JSON Schema, which Helm checks on lint, install and upgrade.
import { z } from "zod";
import type { SchemaNode } from "./json-schema.js";

export function valuesJsonSchema(schema: z.ZodType): SchemaNode {
  // "input": fields with defaults are optional to the user; values.yaml supplies them.
  return z.toJSONSchema(schema, { io: "input", target: "draft-7" }) as SchemaNode;
}

export function renderValuesSchemaJson(schema: z.ZodType): string {
  return `${JSON.stringify(valuesJsonSchema(schema), null, 2)}\n`;
}
