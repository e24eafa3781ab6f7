// Parameters in and out of tensors as NamedArray[], in layout order, so checkpoints and collectives never see tfjs.
import * as tf from "@tensorflow/tfjs-core";
import type { NamedArray } from "../checkpoint/named-array.js";
import type { ModelConfig } from "./model-config.js";
import { paramLayout, type ParamSpec } from "./param-layout.js";

export class ParamImportError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(`parameter ${param}: ${message}`);
    this.name = "ParamImportError";
  }
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Checks `arrays` against `expected` by name, shape and dtype (float32) and returns them in `expected`'s order.
 * Extra or missing names are errors: a checkpoint of another architecture must not load silently.
 */
export function matchNamedArrays(expected: readonly Pick<ParamSpec, "name" | "shape">[], arrays: readonly NamedArray[]): NamedArray[] {
  const byName = new Map<string, NamedArray>();
  for (const a of arrays) {
    if (byName.has(a.name)) throw new ParamImportError("appears twice", a.name);
    byName.set(a.name, a);
  }
  const out = expected.map((spec) => {
    const a = byName.get(spec.name);
    if (a === undefined) throw new ParamImportError("missing", spec.name);
    if (!sameShape(a.shape, spec.shape)) throw new ParamImportError(`shape [${a.shape.join(",")}] is not [${spec.shape.join(",")}]`, spec.name);
    if (!(a.data instanceof Float32Array)) throw new ParamImportError("must be float32", spec.name);
    if (a.data.length !== spec.shape.reduce((x, y) => x * y, 1)) throw new ParamImportError(`holds ${a.data.length} values for shape [${spec.shape.join(",")}]`, spec.name);
    byName.delete(spec.name);
    return a;
  });
  const extra = [...byName.keys()];
  if (extra[0] !== undefined) throw new ParamImportError(`not a parameter of this model (${extra.length} unexpected)`, extra[0]);
  return out;
}

/** Tensors of `arrays` (copied, so the caller may reuse its buffers), in `specs` order. */
export function importTensors(specs: readonly Pick<ParamSpec, "name" | "shape">[], arrays: readonly NamedArray[]): tf.Tensor[] {
  return matchNamedArrays(specs, arrays).map((a) => tf.tensor(a.data.slice(), a.shape, "float32"));
}

/** The model's parameters as tensors, in layout order. */
export function importParams(config: ModelConfig, arrays: readonly NamedArray[]): tf.Tensor[] {
  return importTensors(paramLayout(config), arrays);
}

/** Copies `tensors` out as NamedArray[] named by `specs` (same order), reading asynchronously. */
export async function exportTensors(specs: readonly Pick<ParamSpec, "name">[], tensors: readonly tf.Tensor[]): Promise<NamedArray[]> {
  const data = await Promise.all(tensors.map((t) => t.data<"float32">()));
  return specs.map((s, i) => {
    const t = tensors[i] as tf.Tensor;
    return { name: s.name, shape: [...t.shape], data: (data[i] as Float32Array).slice() };
  });
}

/** The model's parameters as NamedArray[] in layout order. */
export function exportParams(config: ModelConfig, tensors: readonly tf.Tensor[]): Promise<NamedArray[]> {
  return exportTensors(paramLayout(config), tensors);
}
