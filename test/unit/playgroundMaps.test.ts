/**
 * The playground's feature map painting (webview/mapImages.ts, webview/colormap.ts) and saved
 * state (webview/state.ts): pure code, checked here without a browser.
 */
import { describe, expect, it } from 'vitest';
import { colorize, colorizeGrid, colormapIndex, colormapLut, gridLayout, tileOrigin, valueRange } from '../../webview/colormap';
import { channelRanges, DEFAULT_CHANNEL_CAP, MAX_GRID_PIXELS, paintGrid, sharedRange, stepGrid } from '../../webview/mapImages';
import { defaultState, restoreState } from '../../webview/state';

function pseudoRandom(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out[i] = (x / 2 ** 31) * 8 - 3;
  }
  return out;
}

describe('feature map painting', () => {
  it('channelRanges gives each channel the min and max valueRange finds', () => {
    const data = pseudoRandom(5 * 7 * 3);
    const ranges = channelRanges(data, 5, 21);
    for (let c = 0; c < 5; c++) expect([ranges[2 * c], ranges[2 * c + 1]]).toEqual(Object.values(valueRange(data, c * 21, 21)).map(Math.fround));
    expect(sharedRange(ranges)).toEqual({ min: Math.min(...ranges.filter((_, i) => i % 2 === 0)), max: Math.max(...ranges.filter((_, i) => i % 2 === 1)) });
  });

  it('colorizeGrid puts each tile where tileOrigin says, with the pixels colorize gives, and leaves the gaps transparent', () => {
    const [channels, h, w] = [7, 5, 6];
    const data = pseudoRandom(channels * h * w, 7);
    data[3] = NaN; // drawn as the low end, by both
    const layout = gridLayout(channels, w, h, 3);
    const lut = colormapLut('magma');
    const grid = new Uint8ClampedArray(layout.width * layout.height * 4);
    const range = (c: number) => valueRange(data, c * h * w, h * w);
    colorizeGrid(data, channels, layout, range, lut, grid);
    let covered = 0;
    for (let c = 0; c < channels; c++) {
      const tile = new Uint8ClampedArray(h * w * 4);
      colorize(data, c * h * w, h * w, range(c), lut, tile);
      const [x0, y0] = tileOrigin(layout, c);
      for (let y = 0; y < h; y++) {
        const row = grid.subarray(((y0 + y) * layout.width + x0) * 4, ((y0 + y) * layout.width + x0 + w) * 4);
        expect([...row]).toEqual([...tile.subarray(y * w * 4, (y + 1) * w * 4)]);
      }
      covered += h * w;
    }
    const opaque = grid.filter((_, i) => i % 4 === 3 && grid[i] === 255).length;
    expect(opaque).toBe(covered);
    expect(colormapIndex(NaN, { min: 0, max: 1 })).toBe(0);
    expect(colormapIndex(5, { min: 5, max: 5 })).toBe(128);
    expect([colormapIndex(0, { min: 0, max: 2 }), colormapIndex(2, { min: 0, max: 2 })]).toEqual([0, 255]);
  });

  it('stepGrid caps the channels drawn (show all lifts the cap) and keeps a grid under MAX_GRID_PIXELS', () => {
    const request = { availableWidth: 900, expanded: [] as string[] };
    const capped = stepGrid('3.2', [1, 256, 56, 56], request);
    expect(capped.drawn).toBe(DEFAULT_CHANNEL_CAP);
    expect(capped.limitedBy).toBe('cap');
    expect(capped.cssWidth).toBeLessThanOrEqual(900);
    const all = stepGrid('3.2', [1, 256, 56, 56], { ...request, expanded: ['3.2'] });
    expect(all.drawn).toBe(256);
    expect(all.limitedBy).toBeUndefined();
    const huge = stepGrid('0', [1, 64, 1024, 1024], { ...request, expanded: ['0'] });
    expect(huge.limitedBy).toBe('size');
    expect(huge.layout.width * huge.layout.height).toBeLessThanOrEqual(MAX_GRID_PIXELS);
    expect(huge.drawn).toBeGreaterThanOrEqual(1);
  });

  it('paintGrid under shared normalisation colours every channel with the layer\'s range', () => {
    const data = pseudoRandom(3 * 4 * 4, 3);
    const ranges = channelRanges(data, 3, 16);
    const grid = stepGrid('k', [1, 3, 4, 4], { availableWidth: 500, expanded: [] });
    const pixels = paintGrid(data, grid, ranges, { colormap: 'gray', normalisation: 'shared' });
    const expected = new Uint8ClampedArray(pixels.length);
    const shared = sharedRange(ranges);
    colorizeGrid(data, 3, grid.layout, () => shared, colormapLut('gray'), expected);
    expect(pixels).toEqual(expected);
  });
});

describe('saved state', () => {
  const image = { name: 'me.png', type: 'image/png', base64: 'iVBORw0KGgo=', width: 300, height: 200, originalWidth: 600, originalHeight: 400 };

  it('keeps a user image of the right form, and the file input with it', () => {
    const state = restoreState({ ...defaultState(), input: { kind: 'file', name: 'me.png' }, userImage: image });
    expect(state.input).toEqual({ kind: 'file', name: 'me.png' });
    expect(state.userImage).toEqual(image);
  });

  it('falls back to the first sample when the kept image is missing, damaged or too large', () => {
    for (const userImage of [undefined, { ...image, width: -1 }, { ...image, type: 'image/gif' }, { ...image, base64: 'x'.repeat(2_000_000) }, 'text']) {
      const state = restoreState({ ...defaultState(), input: { kind: 'file', name: 'me.png' }, userImage });
      expect(state.input).toEqual(defaultState().input);
      expect(state.userImage).toBeUndefined();
    }
  });
});
