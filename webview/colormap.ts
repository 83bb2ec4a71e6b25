/**
 * Colormaps and the value -> pixel mapping of the feature map view. Pure functions (no DOM), so
 * the end-to-end tests compute the expected pixels with the same code the page draws with.
 */
import { previewByte } from '../src/shared/featurePreview';

export const COLORMAPS = ['viridis', 'magma', 'gray', 'coolwarm'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

/** Anchor colours at evenly spaced positions (published colormap values, sampled). */
const ANCHORS: Record<ColormapName, ReadonlyArray<readonly [number, number, number]>> = {
  viridis: [
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [180, 222, 44],
    [253, 231, 37],
  ],
  magma: [
    [0, 0, 4],
    [28, 16, 68],
    [79, 18, 123],
    [129, 37, 129],
    [181, 54, 122],
    [229, 80, 100],
    [251, 135, 97],
    [254, 194, 135],
    [252, 253, 191],
  ],
  gray: [
    [0, 0, 0],
    [255, 255, 255],
  ],
  coolwarm: [
    [59, 76, 192],
    [124, 159, 249],
    [192, 212, 245],
    [221, 221, 221],
    [242, 203, 183],
    [238, 132, 104],
    [180, 4, 38],
  ],
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

/** The LUT index of a value: 0 at min (and for NaN), 255 at max; a constant map is drawn at the middle. */
export function colormapIndex(value: number, range: Range): number {
  // The preview byte of the value: a map drawn from its preview has the pixels of one drawn from its values.
  return previewByte(value, range.min, range.max);
}

/** Writes `count` values from `offset` as opaque RGBA pixels into `out` (length >= 4 * count). */
export function colorize(data: Float32Array, offset: number, count: number, range: Range, lut: Uint8Array, out: Uint8ClampedArray): void {
  for (let i = 0; i < count; i++) {
    const index = colormapIndex(data[offset + i]!, range);
    const o = i * 4;
    out[o] = lut[index * 3]!;
    out[o + 1] = lut[index * 3 + 1]!;
    out[o + 2] = lut[index * 3 + 2]!;
    out[o + 3] = 255;
  }
}

/** Where each channel's tile sits in a step's grid image. */
export interface GridLayout {
  columns: number;
  rows: number;
  /** Pixels between tiles. */
  gap: number;
  tileWidth: number;
  tileHeight: number;
  width: number;
  height: number;
}

export function gridLayout(channels: number, tileWidth: number, tileHeight: number, columns: number): GridLayout {
  const cols = Math.max(1, Math.min(columns, channels));
  const rows = Math.ceil(channels / cols);
  const gap = Math.max(1, Math.round(Math.max(tileWidth, tileHeight) / 24));
  return { columns: cols, rows, gap, tileWidth, tileHeight, width: cols * (tileWidth + gap) - gap, height: rows * (tileHeight + gap) - gap };
}

/** The top-left pixel of channel `c`'s tile. */
export function tileOrigin(layout: GridLayout, c: number): [number, number] {
  return [(c % layout.columns) * (layout.tileWidth + layout.gap), Math.floor(c / layout.columns) * (layout.tileHeight + layout.gap)];
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const packedCache = new WeakMap<Uint8Array, Uint32Array>();

/** The LUT as 256 RGBA pixels packed in 32 bits (byte order of ImageData on a little-endian machine). */
function packedLut(lut: Uint8Array): Uint32Array {
  let packed = packedCache.get(lut);
  if (!packed) {
    packed = new Uint32Array(256);
    for (let i = 0; i < 256; i++) packed[i] = (lut[i * 3]! | (lut[i * 3 + 1]! << 8) | (lut[i * 3 + 2]! << 16) | (255 << 24)) >>> 0;
    packedCache.set(lut, packed);
  }
  return packed;
}

/**
 * Draws channels [0, count) of a C x H x W block into one RGBA grid image (gaps stay transparent):
 * one image per step instead of one canvas per channel, which costs more than the forward pass
 * itself when a step has hundreds of channels. Same pixels as {@link colorize}, except that a NaN
 * is drawn as the low end of the colormap.
 */
export function colorizeGrid(
  data: Float32Array,
  count: number,
  layout: GridLayout,
  ranges: (c: number) => Range,
  lut: Uint8Array,
  out: Uint8ClampedArray,
): void {
  if (!littleEndian || out.byteOffset % 4 !== 0) {
    colorizeGridBytes(data, count, layout, ranges, lut, out);
    return;
  }
  const { tileWidth: w, tileHeight: h, width: stride } = layout;
  const plane = w * h;
  // One 32-bit store per pixel, one pass over the values, no call per pixel: this loop colours 3 M values per run.
  const pixels = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  const packed = packedLut(lut);
  for (let c = 0; c < count; c++) {
    const range = ranges(c);
    const span = range.max - range.min;
    const [x0, y0] = tileOrigin(layout, c);
    if (!(span > 0)) {
      for (let y = 0; y < h; y++) pixels.fill(packed[128]!, (y0 + y) * stride + x0, (y0 + y) * stride + x0 + w);
      continue;
    }
    const scale = 255 / span;
    const min = range.min;
    let i = c * plane;
    for (let y = 0; y < h; y++) {
      let o = (y0 + y) * stride + x0;
      const end = o + w;
      for (; o < end; o++, i++) {
        // Math.round for the non-negative values this sees; `| 0` maps NaN to 0.
        let index = ((data[i]! - min) * scale + 0.5) | 0;
        if (index < 0) index = 0;
        else if (index > 255) index = 255;
        pixels[o] = packed[index]!;
      }
    }
  }
}

/** {@link colorizeGrid} one byte at a time (big-endian machines, unaligned outputs). */
function colorizeGridBytes(data: Float32Array, count: number, layout: GridLayout, ranges: (c: number) => Range, lut: Uint8Array, out: Uint8ClampedArray): void {
  const { tileWidth: w, tileHeight: h, width: stride } = layout;
  const plane = w * h;
  for (let c = 0; c < count; c++) {
    const range = ranges(c);
    const [x0, y0] = tileOrigin(layout, c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const index = colormapIndex(data[c * plane + y * w + x]!, range);
        const o = ((y0 + y) * stride + x0 + x) * 4;
        out[o] = lut[index * 3]!;
        out[o + 1] = lut[index * 3 + 1]!;
        out[o + 2] = lut[index * 3 + 2]!;
        out[o + 3] = 255;
      }
    }
  }
}

/**
 * Draws channels [0, count) of a step's preview (one byte per value, featurePreview.ts) into one
 * RGBA grid image. `remap(c)` is a 256-entry table from channel c's preview bytes to colormap
 * indices, or undefined when the bytes are the indices (per-channel normalisation).
 */
export function colorizePreviewGrid(
  preview: Uint8Array,
  count: number,
  layout: GridLayout,
  remap: (c: number) => Uint8Array | undefined,
  lut: Uint8Array,
  out: Uint8ClampedArray,
): void {
  const { tileWidth: w, tileHeight: h, width: stride } = layout;
  const plane = w * h;
  if (!littleEndian || out.byteOffset % 4 !== 0) {
    for (let c = 0; c < count; c++) {
      const table = remap(c);
      const [x0, y0] = tileOrigin(layout, c);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const byte = preview[c * plane + y * w + x]!;
          const index = table ? table[byte]! : byte;
          const o = ((y0 + y) * stride + x0 + x) * 4;
          out[o] = lut[index * 3]!;
          out[o + 1] = lut[index * 3 + 1]!;
          out[o + 2] = lut[index * 3 + 2]!;
          out[o + 3] = 255;
        }
      }
    }
    return;
  }
  const pixels = new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
  const packed = packedLut(lut);
  // One 32-bit store per pixel: with the table folded into the packed LUT, a lookup per value.
  const colours = new Uint32Array(256);
  for (let c = 0; c < count; c++) {
    const table = remap(c);
    const palette = table ? colours : packed;
    if (table) for (let b = 0; b < 256; b++) colours[b] = packed[table[b]!]!;
    const [x0, y0] = tileOrigin(layout, c);
    let i = c * plane;
    for (let y = 0; y < h; y++) {
      let o = (y0 + y) * stride + x0;
      const end = o + w;
      for (; o < end; o++, i++) pixels[o] = palette[preview[i]!]!;
    }
  }
}
