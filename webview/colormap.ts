/**
 * Colormaps and the value -> pixel mapping of the feature map view. Pure functions (no DOM), so
 * the end-to-end tests compute the expected pixels with the same code the page draws with.
 */

export const COLORMAPS = ['viridis', 'magma', 'gray', 'coolwarm'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

/** Anchor colours at evenly spaced positions (published colormap values, sampled). */
const ANCHORS: Record<ColormapName, ReadonlyArray<readonly [number, number, number]>> = {
  viridis: [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]],
  magma: [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]],
  gray: [[0, 0, 0], [255, 255, 255]],
  coolwarm: [[59, 76, 192], [124, 159, 249], [192, 212, 245], [221, 221, 221], [242, 203, 183], [238, 132, 104], [180, 4, 38]],
};

const lutCache = new Map<ColormapName, Uint8Array>();

/** 256 RGB entries, linearly interpolated between the anchors. */
export function colormapLut(name: ColormapName): Uint8Array {
  const cached = lutCache.get(name);
  if (cached) return cached;
  const anchors = ANCHORS[name];
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const position = (i / 255) * (anchors.length - 1);
    const lower = Math.min(Math.floor(position), anchors.length - 2);
    const t = position - lower;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(anchors[lower]![c]! * (1 - t) + anchors[lower + 1]![c]! * t);
  }
  lutCache.set(name, lut);
  return lut;
}

export interface Range {
  min: number;
  max: number;
}

/** min and max of `count` values from `offset`. */
export function valueRange(data: Float32Array, offset: number, count: number): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = offset; i < offset + count; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** The LUT index of a value: 0 at min, 255 at max; a constant map is drawn at the middle. */
export function colormapIndex(value: number, range: Range): number {
  const span = range.max - range.min;
  if (!(span > 0)) return 128;
  const index = Math.round(((value - range.min) / span) * 255);
  return index < 0 ? 0 : index > 255 ? 255 : index;
}

/** Writes `count` values from `offset` as opaque RGBA pixels into `out` (length >= 4 * count). */
export function colorize(data: Float32Array, offset: number, count: number, range: Range, lut: Uint8Array, out: Uint8ClampedArray): void {
  const span = range.max - range.min;
  const scale = span > 0 ? 255 / span : 0;
  const min = range.min;
  for (let i = 0; i < count; i++) {
    let index = span > 0 ? Math.round((data[offset + i]! - min) * scale) : 128;
    if (index < 0) index = 0;
    else if (index > 255) index = 255;
    const o = i * 4;
    out[o] = lut[index * 3]!;
    out[o + 1] = lut[index * 3 + 1]!;
    out[o + 2] = lut[index * 3 + 2]!;
    out[o + 3] = 255;
  }
}
