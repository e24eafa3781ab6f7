// Evaluates the CRD's x-kubernetes-validations as the API server does: structural defaults first, then each rule
// with `self` bound to its node (integers as CEL int, numbers as double, objects as maps), `oldSelf` on update.
// A stand-in for the real kube-apiserver, so the unit tests check the rules without a cluster; the integration
// tests run the same cases against the real one.
import { run } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { JSONSchemaProps } from "../../src/crd/structural.js";
import type { CelValidation } from "../../src/crd/build.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Structural defaulting: a missing property with a default gets it, then defaulting recurses into it. */
export function applyDefaults(schema: JSONSchemaProps, value: unknown): unknown {
  if (schema.type === "array" && Array.isArray(value) && schema.items) {
    const items = schema.items;
    return value.map((v) => applyDefaults(items, v));
  }
  if (!isObject(value) || !schema.properties) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [name, child] of Object.entries(schema.properties)) {
    if (out[name] === undefined && child.default !== undefined) out[name] = structuredClone(child.default);
    if (out[name] !== undefined) out[name] = applyDefaults(child, out[name]);
  }
  return out;
}

function toCel(schema: JSONSchemaProps | undefined, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (isObject(value)) {
    const map = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) {
      const child = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined);
      map.set(k, toCel(child, v));
    }
    return map;
  }
  if (typeof value === "number" && schema?.type === "integer") return BigInt(value);
  return value;
}

export interface CelFailure {
  /** Dotted path of the node the rule sits on, plus its fieldPath. */
  path: string;
  message: string;
  rule: string;
  /** Whether the rule names a fieldPath; without one the API server reports the failure on the node itself. */
  hasFieldPath: boolean;
  /** Set when the rule could not be evaluated (the API server reports these as errors too). */
  error?: string;
}

function walk(
  schema: JSONSchemaProps,
  value: unknown,
  old: unknown,
  path: string,
  out: CelFailure[],
): void {
  const rules = (schema["x-kubernetes-validations"] as CelValidation[] | undefined) ?? [];
  for (const v of rules) {
    const transition = v.rule.includes("oldSelf");
    if (transition && old === undefined) continue;
    const bindings: Record<string, unknown> = { self: toCel(schema, value) };
    if (transition) bindings["oldSelf"] = toCel(schema, old);
    const result = run(v.rule, bindings as Parameters<typeof run>[1], { funcs: strings });
    if (result !== true) {
      const at = [path, (v.fieldPath ?? "").replace(/^\./, "")].filter((s) => s !== "").join(".");
      const failure: CelFailure = { path: at, message: v.message, rule: v.rule, hasFieldPath: v.fieldPath !== undefined };
      if (typeof result !== "boolean") failure.error = String(result);
      out.push(failure);
    }
  }
  if (schema.type === "array" && Array.isArray(value) && schema.items) {
    value.forEach((item, i) => walk(schema.items as JSONSchemaProps, item, Array.isArray(old) ? old[i] : undefined, `${path}[${i}]`, out));
    return;
  }
  if (isObject(value) && schema.properties) {
    for (const [name, child] of Object.entries(schema.properties)) {
      if (value[name] === undefined) continue;
      walk(child, value[name], isObject(old) ? old[name] : undefined, path ? `${path}.${name}` : name, out);
    }
  }
}

/** The CEL rules an object fails, after the API server's defaulting. */
export function celFailures(schema: JSONSchemaProps, object: Json, old?: Json): CelFailure[] {
  const out: CelFailure[] = [];
  walk(schema, applyDefaults(schema, object), old === undefined ? undefined : applyDefaults(schema, old), "", out);
  return out;
}
