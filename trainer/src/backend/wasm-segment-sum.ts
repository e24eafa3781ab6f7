// The wasm backend has no UnsortedSegmentSum (tfjs #8082), the kernel behind gather's gradient, so embeddings cannot
// train on it. UnsortedSegmentSum(x, ids, n) is ScatterNd(ids as [N, 1], x, [n, ...]) — ScatterNd sums duplicate
// indices — and wasm has ScatterNd, so this kernel delegates to it with no copy (wasm tensors are flat buffers, so a
// reshape is only a new shape on the same dataId).
import {
  getKernel,
  registerKernel,
  ScatterNd,
  UnsortedSegmentSum,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
} from "@tensorflow/tfjs-core";

export class WasmKernelError extends Error {
  constructor(
    message: string,
    readonly kernel: string,
  ) {
    super(`${kernel}: ${message}`);
    this.name = "WasmKernelError";
  }
}

/** Shapes of the ScatterNd call equivalent to UnsortedSegmentSum(x, segmentIds, numSegments). Pure. */
export function segmentSumAsScatter(
  xShape: readonly number[],
  idsShape: readonly number[],
  numSegments: number,
): { indicesShape: [number, 1]; updatesShape: number[]; outShape: number[] } {
  const prefix = idsShape.length;
  if (prefix > xShape.length || idsShape.some((d, i) => d !== xShape[i])) {
    throw new WasmKernelError(`segment ids shape [${idsShape.join(",")}] is not a prefix of x [${xShape.join(",")}]`, UnsortedSegmentSum);
  }
  const rows = idsShape.reduce((a, b) => a * b, 1);
  const inner = xShape.slice(prefix);
  return { indicesShape: [rows, 1], updatesShape: [rows, ...inner], outShape: [numSegments, ...inner] };
}

const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const scatter = getKernel(ScatterNd, "wasm");
  if (scatter === undefined) throw new WasmKernelError("the wasm backend has no ScatterNd to delegate to", UnsortedSegmentSum);
  if (segmentIds.dtype !== "int32") throw new WasmKernelError(`segment ids must be int32, got ${segmentIds.dtype}`, UnsortedSegmentSum);
  const shapes = segmentSumAsScatter(x.shape, segmentIds.shape, numSegments);
  return scatter.kernelFunc({
    inputs: {
      indices: { dataId: segmentIds.dataId, shape: shapes.indicesShape, dtype: "int32" },
      updates: { dataId: x.dataId, shape: shapes.updatesShape, dtype: x.dtype },
    },
    attrs: { shape: shapes.outShape } as unknown as NamedAttrMap,
    backend,
  });
};

const config: KernelConfig = { kernelName: UnsortedSegmentSum, backendName: "wasm", kernelFunc: unsortedSegmentSumWasm };

/** Registers the kernel once; safe to call again (later calls do nothing). */
export function registerWasmSegmentSum(): void {
  if (getKernel(UnsortedSegmentSum, "wasm") === undefined) registerKernel(config);
}
