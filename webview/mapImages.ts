/**
 * One step's feature map grid as pixels: which channels are drawn, the grid layout (tile size and
 * columns from the width the page has), per-channel value ranges and the colormapped RGBA image.
 * No DOM: the engine worker paints with it right after a run (so the page only shows finished
 * bitmaps), the page repaints with it when the colormap or the normalisation changes.
 */
import { colorizeGrid, colormapLut, gridLayout, type ColormapName, type GridLayout, type Range } from './colormap';

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

/** The grid of a [1, C, H, W] step for a page of the given width. */
export function stepGrid(key: string, shape: readonly number[], request: Pick<PaintRequest, 'availableWidth' | 'expanded'>): StepGrid {
  const [, channels = 1, height = 1, width = 1] = shape;
  const wanted = request.expanded.includes(key) ? channels : Math.min(channels, DEFAULT_CHANNEL_CAP);
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

/** min and max of each channel of a C x plane block: [min0, max0, min1, max1, ...]. */
export function channelRanges(data: Float32Array, channels: number, plane: number): Float32Array {
  const ranges = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    let min = Infinity;
    let max = -Infinity;
    const end = (c + 1) * plane;
    for (let i = c * plane; i < end; i++) {
      const v = data[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges[2 * c] = min;
    ranges[2 * c + 1] = max;
  }
  return ranges;
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

/** The RGBA image of a step's grid. */
export function paintGrid(data: Float32Array, grid: StepGrid, ranges: Float32Array, request: Pick<PaintRequest, 'colormap' | 'normalisation'>): Uint8ClampedArray<ArrayBuffer> {
  const pixels = new Uint8ClampedArray(grid.layout.width * grid.layout.height * 4);
  const shared = request.normalisation === 'shared' ? sharedRange(ranges) : { min: 0, max: 0 };
  colorizeGrid(data, grid.drawn, grid.layout, (c) => rangeOf(ranges, c, request.normalisation, shared), colormapLut(request.colormap), pixels);
  return pixels;
}
