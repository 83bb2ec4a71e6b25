/**
 * The playground's feature map painting (webview/mapImages.ts, webview/colormap.ts) and saved
 * state (webview/state.ts): pure code, checked here without a browser.
 */
import { describe, expect, it } from 'vitest';
import { colorize, colorizeGrid, colormapIndex, colormapLut, gridLayout, tileOrigin, valueRange } from '../../webview/colormap';
import { channelRanges, DEFAULT_CHANNEL_CAP, MAX_GRID_PIXELS, paintGrid, sharedRange, stepGrid } from '../../webview/mapImages';
import { SpareBuffers } from '../../src/shared/spareBuffers';
import { makePreview, previewByte, previewBytes, previewValue } from '../../src/shared/featurePreview';
import { defaultState, restoreState, sampleFile, SAMPLES } from '../../webview/state';
import { blockTree, describeBlock, isConvStep, stepInBlocks } from '../../webview/blockTree';
import { imageToTensor, meanStd } from '../../webview/patterns';
import { costModel } from '../../src/shared/cost';
import { getPreset } from '../../src/shared/presets';
import { resolveModel } from '../../src/shared/spec';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

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

  it('a map painted from its preview has exactly the pixels of one painted from its values (per-channel normalisation)', () => {
    const [channels, h, w] = [6, 5, 7];
    const data = pseudoRandom(channels * h * w, 11);
    data[4] = NaN; // the low end, both ways
    data.fill(2.5, 3 * h * w, 4 * h * w); // a constant channel: the middle, both ways
    const { preview, ranges, previewChannels } = makePreview(data, [1, channels, h, w], 64);
    expect(previewChannels).toBe(channels);
    expect(preview.length).toBe(channels * h * w);
    const grid = stepGrid('k', [1, channels, h, w], { availableWidth: 200, expanded: [] });
    for (const colormap of ['viridis', 'coolwarm'] as const) {
      const expected = new Uint8ClampedArray(grid.layout.width * grid.layout.height * 4);
      colorizeGrid(data, grid.drawn, grid.layout, (c) => ({ min: ranges[2 * c]!, max: ranges[2 * c + 1]! }), colormapLut(colormap), expected);
      expect(paintGrid(preview, grid, ranges, { colormap, normalisation: 'channel' })).toEqual(expected);
    }
  });

  it('paints into a used buffer of the same size exactly what it paints into new memory (gaps transparent again); another size is not used', () => {
    const [channels, h, w] = [5, 4, 6];
    const { preview, ranges } = makePreview(pseudoRandom(channels * h * w, 5), [1, channels, h, w], channels);
    const grid = stepGrid('k', [1, channels, h, w], { availableWidth: 30, expanded: [] });
    const fresh = paintGrid(preview, grid, ranges, { colormap: 'magma', normalisation: 'channel' });
    expect(fresh.some((v, i) => i % 4 === 3 && v === 0)).toBe(true); // the grid has gaps
    const used = new Uint8ClampedArray(fresh.length).fill(77).buffer;
    const again = paintGrid(preview, grid, ranges, { colormap: 'magma', normalisation: 'channel' }, used);
    expect(again.buffer).toBe(used);
    expect(again).toEqual(fresh);
    const wrongSize = new ArrayBuffer(fresh.length + 4);
    expect(paintGrid(preview, grid, ranges, { colormap: 'magma', normalisation: 'channel' }, wrongSize).buffer).not.toBe(wrongSize);
  });

  it('SpareBuffers hands out a kept buffer of the exact size once, keeps the latest up to its limit, and skips detached ones', () => {
    const spare = new SpareBuffers();
    const [a, b, c] = [new ArrayBuffer(16), new ArrayBuffer(32), new ArrayBuffer(16)];
    spare.give(a);
    spare.give(b);
    spare.give(c);
    spare.give(new ArrayBuffer(0));
    expect(spare.take(16)).toBe(a);
    expect(spare.take(16)).toBe(c);
    expect(spare.take(16)).toBeUndefined();
    expect(spare.takeAll()).toEqual([b]);
    expect(spare.takeAll()).toEqual([]);
    for (let i = 1; i <= 5; i++) spare.give(new ArrayBuffer(i), 3);
    expect(spare.takeAll().map((x) => x.byteLength)).toEqual([3, 4, 5]);
  });

  it("under shared normalisation a preview's colours are within one colormap step of the values' own", () => {
    const [channels, h, w] = [4, 6, 6];
    const data = pseudoRandom(channels * h * w, 3);
    for (let i = 0; i < h * w; i++) data[h * w + i] = data[h * w + i]! * 0.01; // a channel with a narrow range
    const { preview, ranges } = makePreview(data, [1, channels, h, w], channels);
    const grid = stepGrid('k', [1, channels, h, w], { availableWidth: 500, expanded: [] });
    const pixels = paintGrid(preview, grid, ranges, { colormap: 'gray', normalisation: 'shared' });
    const expected = new Uint8ClampedArray(pixels.length);
    const shared = sharedRange(ranges);
    colorizeGrid(data, channels, grid.layout, () => shared, colormapLut('gray'), expected);
    // In 'gray' the LUT index is the grey level itself.
    let worst = 0;
    for (let i = 0; i < pixels.length; i++) worst = Math.max(worst, Math.abs(pixels[i]! - expected[i]!));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('makePreview sends bytes for the first channels only, every range, and nothing for a tensor that is not [1, C, H, W]', () => {
    const data = pseudoRandom(10 * 3 * 3, 5);
    const capped = makePreview(data, [1, 10, 3, 3], 4);
    expect(capped.previewChannels).toBe(4);
    expect(capped.preview.length).toBe(4 * 9);
    expect(capped.ranges.length).toBe(20);
    const all = makePreview(data, [1, 10, 3, 3], 100);
    expect(all.preview.subarray(0, 36)).toEqual(capped.preview);
    // Channels made later from the values alone (the page's "show all") are the same bytes.
    expect(previewBytes(data.subarray(4 * 9), all.ranges, 9, 4, 6, 4)).toEqual(all.preview.subarray(36));
    expect(() => previewBytes(data.subarray(4 * 9), all.ranges, 9, 3, 2, 4)).toThrow(RangeError);
    for (let i = 0; i < 36; i++) {
      const c = Math.floor(i / 9);
      expect(capped.preview[i]).toBe(previewByte(data[i]!, capped.ranges[2 * c]!, capped.ranges[2 * c + 1]!));
      // A byte stands for its value to within half a step of the channel's range.
      const step = (capped.ranges[2 * c + 1]! - capped.ranges[2 * c]!) / 255;
      expect(Math.abs(previewValue(capped.preview[i]!, capped.ranges[2 * c]!, capped.ranges[2 * c + 1]!) - data[i]!)).toBeLessThanOrEqual(step / 2 + 1e-6);
    }
    const logits = makePreview(pseudoRandom(1000), [1, 1000], 128);
    expect(logits.previewChannels).toBe(0);
    expect(logits.preview.length).toBe(0);
    expect(logits.ranges.length).toBe(2);
  });

  it('stepGrid draws no more channels than have previews', () => {
    const grid = stepGrid('k', [1, 256, 14, 14], { availableWidth: 900, expanded: ['k'] }, 128);
    expect(grid.drawn).toBe(128);
    expect(grid.limitedBy).toBe('cap');
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

  it("keeps an imported model's params counted from its file, and drops a damaged count", () => {
    expect(restoreState({ ...defaultState(), countedParams: { 'p2o.Mul.1': 1, 'hardsigmoid_0.tmp_0.affine': 0 } }).countedParams).toEqual({
      'p2o.Mul.1': 1,
      'hardsigmoid_0.tmp_0.affine': 0,
    });
    for (const countedParams of [[1, 2], { a: -1 }, { a: 1.5 }, { a: '3' }, 'text', null]) {
      expect(restoreState({ ...defaultState(), countedParams }).countedParams).toBeUndefined();
    }
    expect(Object.getPrototypeOf(restoreState({ ...defaultState(), countedParams: JSON.parse('{"__proto__": 5}') as unknown }).countedParams)).toBe(
      Object.prototype,
    );
  });
});

describe('the model as blocks', () => {
  const model = resolveModel(getPreset('mobilenet_v2')!, { inputShape: [1, 3, 224, 224] });
  const leaves = costModel(model).leaves;

  it("nests every module under its state_dict prefix, with sums that add up to the model's", () => {
    const tree = blockTree(leaves);
    expect(tree.params).toBe(leaves.reduce((a, l) => a + l.params, 0));
    expect(tree.macs).toBe(leaves.reduce((a, l) => a + l.macs, 0));
    expect(tree.outShape).toEqual(model.outputShape);
    // Top level: the spec's layers, in order.
    expect(tree.children.map((c) => c.key)).toEqual(model.layers.map((l) => String(l.index)));
    const walk = (node: typeof tree): number => (node.leaf ? 1 : 0) + node.children.reduce((a, c) => a + walk(c), 0);
    expect(walk(tree)).toBe(leaves.length);
    for (const node of tree.children) {
      expect(node.params).toBe(leaves.filter((l) => l.key === node.key || l.key.startsWith(`${node.key}.`)).reduce((a, l) => a + l.params, 0));
    }
    const block = tree.children.find((c) => c.roles.depthwise)!;
    expect(describeBlock(block)).toMatch(/depthwise/);
    expect(block.children.length).toBeGreaterThan(0);
  });

  it('chooses the steps of a block, of a module fused into a step, and of every conv', () => {
    const fused = { key: '2.conv.0.2', leafKeys: ['2.conv.0.0', '2.conv.0.1', '2.conv.0.2'], role: 'pointwise' };
    const skipAdd = { key: '3', leafKeys: ['3.conv.2', '3.conv.3'], role: 'pointwise' };
    expect(stepInBlocks(fused, ['2'])).toBe(true);
    expect(stepInBlocks(fused, ['2.conv.0.1'])).toBe(true); // the BatchNorm inside the fused step
    expect(stepInBlocks(fused, ['2.conv.1'])).toBe(false);
    expect(stepInBlocks(fused, ['20'])).toBe(false); // a prefix of the text is not a prefix of the path
    expect(stepInBlocks(skipAdd, ['3'])).toBe(true);
    expect(stepInBlocks(skipAdd, [])).toBe(false);
    expect(isConvStep({ role: 'depthwise' })).toBe(true);
    expect(isConvStep({ role: 'pool' })).toBe(false);
  });
});

describe('inputs', () => {
  it('normalises with a mean and std of the user, per colour', () => {
    const image = { width: 1, height: 1, data: new Uint8ClampedArray([255, 0, 51, 255]) };
    const custom = { mean: [0.5, 0.1, 0.2], std: [0.25, 0.5, 2] };
    expect([...imageToTensor(image, 3, custom).data].map((v) => +v.toFixed(5))).toEqual([2, -0.2, 0]);
    expect(imageToTensor(image, 3, 'imagenet').data).toEqual(imageToTensor(image, 3, meanStd('imagenet')).data);
    expect(() => meanStd('custom')).toThrow(/mean and a std/);
  });

  it('restores the mean, std, view and chosen blocks, falling back where they are damaged', () => {
    const kept = restoreState({
      ...defaultState(),
      customMean: [0.1, 0.2, 0.3],
      customStd: [1, 2, 3],
      modelView: 'blocks',
      mapSteps: 'chosen',
      chosenBlocks: ['3'],
    });
    expect([kept.customMean, kept.customStd, kept.modelView, kept.mapSteps, kept.chosenBlocks]).toEqual([
      [0.1, 0.2, 0.3],
      [1, 2, 3],
      'blocks',
      'chosen',
      ['3'],
    ]);
    const damaged = restoreState({ ...defaultState(), customMean: [1, 2], customStd: [1, 0, 1], modelView: 'tree', mapSteps: 7, chosenBlocks: [3] });
    const defaults = defaultState();
    expect([damaged.customMean, damaged.customStd, damaged.modelView, damaged.mapSteps, damaged.chosenBlocks]).toEqual([
      defaults.customMean,
      defaults.customStd,
      defaults.modelView,
      defaults.mapSteps,
      [],
    ]);
  });

  it('every sample has its file in media/samples, and its licence is written down there', async () => {
    const { readFileSync } = await import('node:fs');
    const licence = readFileSync(join(__dirname, '../../media/samples/LICENSE.md'), 'utf8');
    for (const name of SAMPLES) {
      expect(existsSync(join(__dirname, '../../media/samples', sampleFile(name))), sampleFile(name)).toBe(true);
      expect(licence, sampleFile(name)).toContain(`\`${sampleFile(name)}\``);
    }
  });
});
