// A tensor as plain bytes with a name: the unit that checkpoints, collectives and interop exchange. Keeping it free of
// TensorFlow.js lets those parts be tested without a backend.
export type ArrayData = Float32Array | Int32Array;

export interface NamedArray {
  name: string;
  shape: number[];
  data: ArrayData;
}

/** Elements in a tensor of `shape`. */
export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
