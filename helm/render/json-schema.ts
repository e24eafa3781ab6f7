// The slice of JSON Schema that the values renderers read, and a walk over z.toJSONSchema's output.
export interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, SchemaNode | boolean>;
  items?: SchemaNode | boolean;
  anyOf?: Array<SchemaNode | boolean>;
  additionalProperties?: SchemaNode | boolean;
}

export interface SchemaLeaf {
  /** Dotted path, as `helm --set` spells it. */
  path: string;
  node: SchemaNode;
}

function asNode(n: SchemaNode | boolean | undefined): SchemaNode {
  return typeof n === "object" ? n : {};
}

/** The properties of an object node, in declaration order. */
export function propertiesOf(node: SchemaNode): Array<[string, SchemaNode]> {
  return Object.entries(node.properties ?? {}).map(([k, v]) => [k, asNode(v)]);
}

/** Every value a user sets: objects with declared properties are descended, everything else is a leaf. */
export function leaves(node: SchemaNode, prefix = ""): SchemaLeaf[] {
  return propertiesOf(node).flatMap(([key, child]) => {
    const path = prefix === "" ? key : `${prefix}.${key}`;
    return child.properties !== undefined ? leaves(child, path) : [{ path, node: child }];
  });
}

/** A short type name for the docs: string, integer, list of string, map, "a" | "b". */
export function typeName(node: SchemaNode): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (node.anyOf) return node.anyOf.map((n) => typeName(asNode(n))).join(" or ");
  const t = Array.isArray(node.type) ? node.type.join(" or ") : node.type;
  if (t === "array") return `list of ${typeName(asNode(node.items))}`;
  if (t === "object") return "map";
  return t ?? "any";
}
