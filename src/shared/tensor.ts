/**
 * The tensor form that crosses every boundary of the project: the engine's inputs and outputs,
 * weights keyed by state_dict names, and what the .npy and .safetensors readers return.
 * Data is float32, row-major (C order); activations are NCHW.
 *
 * This module imports neither `vscode` nor the DOM.
 */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** The number of elements of a shape (1 for a scalar, shape `[]`). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const d of shape) count *= d;
  return count;
}

/** Whether two shapes are equal, dimension by dimension. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
