// tfjs-backend-cpu's UnsortedSegmentSum compares every row against every segment: O(segments × rows × width). For
// the embedding gradient the segments are the vocabulary, so at GPT-2's 50,257 tokens one step costs ~10¹⁰ operations
// on the fallback backend. This replacement scatters each row once, O(rows × width), in a fixed order.
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  UnsortedSegmentSum,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
} from "@tensorflow/tfjs-core";
import { segmentSumAsScatter } from "./wasm-segment-sum.js";

/** out[ids[r]] += x[r] for rows r in order; ids outside [0, numSegments) are dropped, as in TensorFlow. Pure. */
export function scatterRows(x: Float32Array, ids: Int32Array, numSegments: number, width: number): Float32Array {
  const out = new Float32Array(numSegments * width);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r] as number;
    if (id < 0 || id >= numSegments) continue;
    const src = r * width;
    const dst = id * width;
    for (let j = 0; j < width; j++) out[dst + j] = (out[dst + j] as number) + (x[src + j] as number);
  }
  return out;
}

let replaced = false;

/** Replaces cpu's kernel for float32 inputs (others still go to the original); idempotent. */
export function registerCpuSegmentSum(): void {
  if (replaced) return;
  const original = getKernel(UnsortedSegmentSum, "cpu");
  if (original === undefined) return;
  const kernelFunc: KernelFunc = (args) => {
    const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
    if (x.dtype !== "float32" || segmentIds.dtype !== "int32") return original.kernelFunc(args);
    const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
    const cpu = args.backend as MathBackendCPU;
    const shapes = segmentSumAsScatter(x.shape, segmentIds.shape, numSegments);
    const width = shapes.updatesShape.slice(1).reduce((a, b) => a * b, 1);
    const xv = cpu.data.get(x.dataId)?.values as Float32Array;
    const ids = cpu.data.get(segmentIds.dataId)?.values as Int32Array;
    return cpu.makeTensorInfo(shapes.outShape, "float32", scatterRows(xv, ids, numSegments, width));
  };
  const config: KernelConfig = { kernelName: UnsortedSegmentSum, backendName: "cpu", kernelFunc };
  unregisterKernel(UnsortedSegmentSum, "cpu");
  registerKernel(config);
  replaced = true;
}
