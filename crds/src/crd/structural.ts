// Turns a zod schema into a Kubernetes structural OpenAPI v3 schema (what a CRD's openAPIV3Schema must be).
import { z } from "zod";

export interface JSONSchemaProps {
  type?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps | boolean;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  [extension: string]: unknown;
}

export class StructuralSchemaError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path || "(root)"}: ${reason}`);
    this.name = "StructuralSchemaError";
  }
}

const SAFE = Number.MAX_SAFE_INTEGER;
const FORBIDDEN = ["anyOf", "oneOf", "allOf", "not", "$ref", "nullable"] as const;

function clean(node: Record<string, unknown>, path: string): JSONSchemaProps {
  for (const key of FORBIDDEN) {
    if (key in node) throw new StructuralSchemaError(path, `${key} is not structural; restructure the zod schema`);
  }
  const out: JSONSchemaProps = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case "$schema":
        break;
      case "properties": {
        const props: Record<string, JSONSchemaProps> = {};
        for (const [name, child] of Object.entries(value as Record<string, Record<string, unknown>>)) {
          props[name] = clean(child, path ? `${path}.${name}` : name);
        }
        out.properties = props;
        break;
      }
      case "items":
        out.items = clean(value as Record<string, unknown>, `${path}[]`);
        break;
      case "additionalProperties":
        // Unknown fields are pruned (and rejected by strict field validation); false is not allowed beside properties.
        if (value === false) break;
        if (node["x-kubernetes-preserve-unknown-fields"] === true) break;
        if (typeof value === "object" && value !== null && Object.keys(value).length > 0) {
          out.additionalProperties = clean(value as Record<string, unknown>, `${path}{}`);
        }
        break;
      case "minimum":
        if (value !== -SAFE) out.minimum = value;
        break;
      case "maximum":
        if (value !== SAFE) out.maximum = value;
        break;
      case "const":
        out.enum = [value];
        break;
      default:
        out[key] = value;
    }
  }
  if (out.type === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    throw new StructuralSchemaError(path, "every node needs a type");
  }
  return out;
}

/** Fills a default object with the defaults of its properties, recursively, as zod's prefault does. */
function expandDefault(node: JSONSchemaProps, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value) || !node.properties) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [name, child] of Object.entries(node.properties)) {
    if (out[name] === undefined && child.default !== undefined) out[name] = child.default;
    if (out[name] !== undefined) out[name] = expandDefault(child, out[name]);
  }
  return out;
}

// The API server checks a default against the node's CEL rules without defaulting inside it first,
// so an object default must be written out in full.
function expandDefaults(node: JSONSchemaProps): void {
  for (const child of Object.values(node.properties ?? {})) expandDefaults(child);
  if (node.items) expandDefaults(node.items);
  if (node.default !== undefined) node.default = expandDefault(node, node.default);
}

export function toStructural(schema: z.ZodType): JSONSchemaProps {
  const json = z.toJSONSchema(schema, {
    io: "input",
    target: "openapi-3.0",
    unrepresentable: "throw",
    cycles: "throw",
    reused: "inline",
  }) as Record<string, unknown>;
  const root = clean(json, "");
  expandDefaults(root);
  return root;
}

/** The node at a dotted path of property names, for attaching rules. */
export function nodeAt(root: JSONSchemaProps, path: readonly string[]): JSONSchemaProps {
  let node = root;
  for (const [i, name] of path.entries()) {
    const next = node.properties?.[name];
    if (next === undefined) throw new StructuralSchemaError(path.slice(0, i + 1).join("."), "no such property");
    node = next;
  }
  return node;
}
