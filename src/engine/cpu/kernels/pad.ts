/**
 * Materialises reflect / replicate / circular padding (what torch.nn.functional.pad does) so
 * the conv kernels only ever see zero padding. Rows are copied whole; only the border columns
 * and rows are computed element by element.
 */
import type { PaddingMode } from '../../../shared/spec';

function mapIndex(i: number, size: number, mode: Exclude<PaddingMode, 'zeros'>): number {
  if (mode === 'replicate') return Math.min(Math.max(i, 0), size - 1);
  if (mode === 'circular') return i < 0 ? i + size : i >= size ? i - size : i;
  return i < 0 ? -i : i >= size ? 2 * size - 2 - i : i;
}

/** Pads each of `channels` planes of `height x width`; pads are [top, bottom, left, right]. */
export function padPlanes(
  input: Float32Array,
  channels: number,
  height: number,
  width: number,
  pads: readonly [number, number, number, number],
  mode: Exclude<PaddingMode, 'zeros'>,
): Float32Array {
  const [top, bottom, left, right] = pads;
  const outHeight = height + top + bottom;
  const outWidth = width + left + right;
  const out = new Float32Array(channels * outHeight * outWidth);
  const columnSource = new Int32Array(left + right);
  for (let x = 0; x < left; x++) columnSource[x] = mapIndex(x - left, width, mode);
  for (let x = 0; x < right; x++) columnSource[left + x] = mapIndex(width + x, width, mode);
  for (let c = 0; c < channels; c++) {
    const inPlane = c * height * width;
    const outPlane = c * outHeight * outWidth;
    for (let y = 0; y < outHeight; y++) {
      const source = inPlane + mapIndex(y - top, height, mode) * width;
      const row = outPlane + y * outWidth;
      out.set(input.subarray(source, source + width), row + left);
      for (let x = 0; x < left; x++) out[row + x] = input[source + columnSource[x]!]!;
      for (let x = 0; x < right; x++) out[row + left + width + x] = input[source + columnSource[left + x]!]!;
    }
  }
  return out;
}
