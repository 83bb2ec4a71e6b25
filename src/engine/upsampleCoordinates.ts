/**
 * Where each output row (or column) of an Upsample reads from, as PyTorch 1.13 computes it: two
 * source indices and their weights per output coordinate. Nearest: one source, weight 1 (with
 * PyTorch's float32 index arithmetic and its special cases for sizes equal and doubled).
 * Bilinear: area_pixel_compute_source_index with or without align_corners. Both backends read
 * these tables, so they agree on every index.
 */
import { type ResolvedUpsample } from '../shared/spec';

/** Per output coordinate: [index0, index1, weight0, weight1], flattened (4 numbers each). */
export type AxisTable = Float64Array;

/** The table of one axis (`dim` 0: rows, 1: columns) for an input size and an output size. */
export function upsampleAxisTable(
  node: Pick<ResolvedUpsample, 'mode' | 'alignCorners' | 'scaleFactor' | 'useScaleFactor'>,
  dim: 0 | 1,
  input: number,
  output: number,
): AxisTable {
  const table = new Float64Array(output * 4);
  const given = node.useScaleFactor && node.scaleFactor ? node.scaleFactor[dim] : undefined;
  if (node.mode === 'nearest') {
    // compute_scales_value<float>: 1 / scale_factor in double, then float; else float(in) / out.
    const scale = Math.fround(given !== undefined ? 1 / given : input / output);
    for (let o = 0; o < output; o++) {
      let source: number;
      if (output === input) source = o;
      else if (output === 2 * input) source = o >> 1;
      else source = Math.min(Math.floor(Math.fround(o * scale)), input - 1);
      table.set([source, source, 1, 0], o * 4);
    }
    return table;
  }
  const scale = node.alignCorners ? (output > 1 ? (input - 1) / (output - 1) : 0) : given !== undefined ? 1 / given : input / output;
  for (let o = 0; o < output; o++) {
    if (output === input) {
      table.set([o, o, 1, 0], o * 4);
      continue;
    }
    const real = node.alignCorners ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.floor(real);
    const i1 = i0 + (i0 < input - 1 ? 1 : 0);
    const lambda1 = Math.min(Math.max(real - i0, 0), 1);
    table.set([i0, i1, 1 - lambda1, lambda1], o * 4);
  }
  return table;
}
