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

/**
 * A buffer that holds exactly the bytes of `view`: the view's own buffer when the view spans all
 * of it, a copy otherwise (a view into a larger or a shared buffer). What can be transferred or
 * sent without sending more than the tensor.
 */
export function exactBuffer(view: ArrayBufferView): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = view;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) return buffer;
  return new Uint8Array(buffer, byteOffset, byteLength).slice().buffer;
}
