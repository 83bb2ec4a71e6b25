/**
 * One step's feature map grid as pixels: which channels are drawn, the grid layout (tile size and
 * columns from the width the page has), per-channel value ranges and the colormapped RGBA image,
 * painted from the step's preview (one byte per value, src/shared/featurePreview.ts).
 * No DOM: the engine worker paints with it right after a run (so the page only shows finished
 * bitmaps), the page repaints with it when the colormap or the normalisation changes.
 */
import { previewByte, previewValue } from '../src/shared/featurePreview';
import { colorizePreviewGrid, colormapLut, gridLayout, type ColormapName, type GridLayout, type Range } from './colormap';

export { channelRanges } from '../src/shared/featurePreview';

export type MapNormalisation = 'channel' | 'shared';

/** Channels drawn per step before "show all" (the first three MobileNetV1 blocks have at most 128). */
export const DEFAULT_CHANNEL_CAP = 128;
/** Largest grid image, pixels (64 MiB of RGBA); a step with larger maps draws fewer channels. */
export const MAX_GRID_PIXELS = 16 * 1024 ** 2;
/** CSS pixels between thumbnails: the canvas's gap is scaled to this. */
export const THUMB_GAP_PX = 3;

/** How the page wants its grids painted. */
export interface PaintRequest {
  colormap: ColormapName;
  normalisation: MapNormalisation;
  /** CSS pixels of width the grids may take. */
  availableWidth: number;
  /** Step keys whose every channel is drawn (the user pressed "show all"). */
  expanded: readonly string[];
}

/** Where a step's pixels go, and what was left out. */
export interface StepGrid {
  layout: GridLayout;
  /** Channels in the image: all of them, or the cap. */
  drawn: number;
  /** Why fewer than all channels are drawn: 'cap' (show all on request) or 'size' (over MAX_GRID_PIXELS). */
  limitedBy?: 'cap' | 'size';
  /** CSS width of the canvas. */
  cssWidth: number;
}

/** A thumbnail's side in CSS pixels for maps of this size. */
export function thumbSize(height: number, width: number): number {
  const side = Math.max(height, width);
  return side >= 96 ? 96 : side >= 48 ? 72 : 56;
}

/**
 * The grid of a [1, C, H, W] step for a page of the given width. At most `previewed` channels
 * (those the page has preview bytes for; all by default) are drawn.
 */
export function stepGrid(key: string, shape: readonly number[], request: Pick<PaintRequest, 'availableWidth' | 'expanded'>, previewed = Infinity): StepGrid {
  const [, channels = 1, height = 1, width = 1] = shape;
  const wanted = Math.min(request.expanded.includes(key) ? channels : Math.min(channels, DEFAULT_CHANNEL_CAP), Math.max(1, previewed));
  const thumb = thumbSize(height, width);
  const available = Math.max(1, request.availableWidth);
  const columns = Math.max(1, Math.floor(available / (thumb + THUMB_GAP_PX)));
  // Fewer channels until the grid (gaps and a part-filled last row included) fits the pixel budget.
  let drawn = Math.min(wanted, Math.max(1, Math.floor(MAX_GRID_PIXELS / (height * width))));
  let layout = gridLayout(drawn, width, height, columns);
  while (drawn > 1 && layout.width * layout.height > MAX_GRID_PIXELS) layout = gridLayout(--drawn, width, height, columns);
  const limitedBy = drawn < wanted ? 'size' : drawn < channels ? 'cap' : undefined;
  return { layout, drawn, limitedBy, cssWidth: Math.min(available, layout.columns * (thumb + THUMB_GAP_PX)) };
}

/** The range of every channel together. */
export function sharedRange(ranges: Float32Array): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < ranges.length; i += 2) {
    if (ranges[i]! < min) min = ranges[i]!;
    if (ranges[i + 1]! > max) max = ranges[i + 1]!;
  }
  return { min, max };
}

/** The range a channel is coloured with under a normalisation. */
export function rangeOf(ranges: Float32Array, channel: number, normalisation: MapNormalisation, shared: Range): Range {
  return normalisation === 'shared' ? shared : { min: ranges[2 * channel]!, max: ranges[2 * channel + 1]! };
}

/**
 * What a channel's preview bytes become under a normalisation: undefined (the bytes are the
 * colormap indices) per channel; under the layer's shared range, a table from each byte to the
 * index of the value it stands for. A byte stands for a value to within half a step of its
 * channel's range, which is no wider than the shared one: the index is the float's, or next to it.
 */
export function previewRemap(ranges: Float32Array, channel: number, normalisation: MapNormalisation, shared: Range): Uint8Array | undefined {
  if (normalisation === 'channel') return undefined;
  const min = ranges[2 * channel]!;
  const max = ranges[2 * channel + 1]!;
  const table = new Uint8Array(256);
  for (let b = 0; b < 256; b++) table[b] = previewByte(previewValue(b, min, max), shared.min, shared.max);
  return table;
}

/**
 * The RGBA image of a step's grid, from its preview bytes (channel after channel, at least
 * `grid.drawn` of them), in `into` when it has the image's size (a buffer of an earlier image:
 * every pixel is written, gaps included) or in new memory.
 */
export function paintGrid(
  preview: Uint8Array,
  grid: StepGrid,
  ranges: Float32Array,
  request: Pick<PaintRequest, 'colormap' | 'normalisation'>,
  into?: ArrayBuffer,
): Uint8ClampedArray<ArrayBuffer> {
  const bytes = grid.layout.width * grid.layout.height * 4;
  const pixels = into?.byteLength === bytes ? new Uint8ClampedArray(into) : new Uint8ClampedArray(bytes);
  if (pixels.buffer === into) pixels.fill(0);
  const shared = request.normalisation === 'shared' ? sharedRange(ranges) : { min: 0, max: 0 };
  colorizePreviewGrid(preview, grid.drawn, grid.layout, (c) => previewRemap(ranges, c, request.normalisation, shared), colormapLut(request.colormap), pixels);
  return pixels;
}
