/** Made weights: seeded initialisation is deterministic and PyTorch-shaped; filters are the textbook kernels. */
import { describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { filterWeights, initWeights, makeFilter, parseWeightSource } from '../../src/engine/weights';
import { parameterShapes, resolveModel, type ModelSpec } from '../../src/shared/spec';

const spec: ModelSpec = {
  layers: [
    { type: 'Conv2d', in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1, bias: true },
    { type: 'DepthwiseSeparable', in_channels: 16, out_channels: 32 },
    { type: 'AdaptiveAvgPool2d', output_size: 1 },
    { type: 'Flatten' },
    { type: 'Linear', in_features: 32, out_features: 10 },
  ],
};
const model = resolveModel(spec, { inputShape: [1, 3, 32, 32] });

describe('initWeights', () => {
  it('same seed, same numbers; another seed, other numbers', () => {
    const a = initWeights(model, { seed: 42 });
    const b = initWeights(model, { seed: 42 });
    const c = initWeights(model, { seed: 43 });
    for (const key of Object.keys(a)) expect(b[key]!.data).toEqual(a[key]!.data);
    expect(c['0.weight']!.data).not.toEqual(a['0.weight']!.data);
  });

  it('covers every parameter with its shape; Kaiming-uniform bounds 1/sqrt(fan_in); BN 1/0/0/1', () => {
    const w = initWeights(model, { seed: 7 });
    for (const { key, shape } of parameterShapes(model)) expect(w[key]?.shape).toEqual(shape);
    const bounds: Record<string, number> = {
      '0.weight': 1 / Math.sqrt(27),
      '0.bias': 1 / Math.sqrt(27),
      '1.0.weight': 1 / 3,
      '1.3.weight': 1 / 4,
      '4.weight': 1 / Math.sqrt(32),
    };
    for (const [key, bound] of Object.entries(bounds)) {
      const data = w[key]!.data;
      const max = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(max).toBeLessThanOrEqual(bound);
      expect(max).toBeGreaterThan(bound * 0.8); // spread over the range, not squeezed
      const mean = data.reduce((s, v) => s + v, 0) / data.length;
      expect(Math.abs(mean)).toBeLessThan(bound / 2);
    }
    expect([...w['1.1.weight']!.data].every((v) => v === 1)).toBe(true);
    expect([...w['1.1.bias']!.data].every((v) => v === 0)).toBe(true);
    expect([...w['1.1.running_mean']!.data].every((v) => v === 0)).toBe(true);
    expect([...w['1.1.running_var']!.data].every((v) => v === 1)).toBe(true);
  });

  it("one layer changing leaves the other layers' weights alone", () => {
    const other = resolveModel({ layers: [...spec.layers.slice(0, 4), { type: 'Linear', in_features: 32, out_features: 5 }] }, { inputShape: [1, 3, 32, 32] });
    expect(initWeights(other, { seed: 1 })['1.0.weight']!.data).toEqual(initWeights(model, { seed: 1 })['1.0.weight']!.data);
  });
});

describe('filters', () => {
  const rows = (k: Float32Array, w: number) => Array.from({ length: k.length / w }, (_, r) => [...k.slice(r * w, (r + 1) * w)]);

  it('the textbook 3x3 kernels', () => {
    expect(rows(makeFilter('sobel_x', 3, 3), 3)).toEqual([
      [-1, 0, 1],
      [-2, 0, 2],
      [-1, 0, 1],
    ]);
    expect(rows(makeFilter('sobel_y', 3, 3), 3)).toEqual([
      [-1, -2, -1],
      [0, 0, 0],
      [1, 2, 1],
    ]);
    expect(rows(makeFilter('laplacian', 3, 3), 3)).toEqual([
      [0, 1, 0],
      [1, -4, 1],
      [0, 1, 0],
    ]);
    expect(rows(makeFilter('sharpen', 3, 3), 3)).toEqual([
      [0, -1, 0],
      [-1, 5, -1],
      [0, -1, 0],
    ]);
    expect(rows(makeFilter('emboss', 3, 3), 3)).toEqual([
      [-2, -1, 0],
      [-1, 1, 1],
      [0, 1, 2],
    ]);
    expect(rows(makeFilter('identity', 3, 3), 3)).toEqual([
      [0, 0, 0],
      [0, 1, 0],
      [0, 0, 0],
    ]);
    const gaussian = makeFilter('gaussian_blur', 3, 3);
    expect(gaussian.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(gaussian[4]).toBeGreaterThan(gaussian[1]!);
  });

  it('other sizes: blurs keep brightness, edge filters sum to zero, 1x1 is the identity', () => {
    for (const [kh, kw] of [
      [5, 5],
      [7, 7],
      [2, 2],
      [4, 6],
      [1, 5],
      [1, 1],
    ] as const) {
      const sum = (name: Parameters<typeof makeFilter>[0]) => makeFilter(name, kh, kw).reduce((a, b) => a + b, 0);
      for (const name of ['identity', 'box_blur', 'gaussian_blur', 'sharpen', 'emboss'] as const) expect(sum(name), `${name} ${kh}x${kw}`).toBeCloseTo(1, 5);
      if (kw >= 2) expect(sum('sobel_x')).toBeCloseTo(0, 5);
      if (kh >= 3 || kw >= 3) expect(sum('laplacian')).toBeCloseTo(0, 5);
    }
    expect([...makeFilter('sobel_x', 1, 1)]).toEqual([1]);
  });

  it('a sobel_x depthwise conv finds a vertical edge, and the maps stay readable through pw', async () => {
    const ds: ModelSpec = { layers: [{ type: 'DepthwiseSeparable', in_channels: 2, out_channels: 2, activation: 'Identity' }] };
    const r = resolveModel(ds, { inputShape: [1, 2, 6, 6] });
    const data = new Float32Array(72).map((_, i) => (i % 6 >= 3 ? 1 : 0)); // dark left half, bright right half
    const { output } = await forward(ds, filterWeights(r, 'sobel'), { shape: [1, 2, 6, 6], data });
    const row = [...output.data.slice(6 * 2, 6 * 3)].map((v) => Math.round(v * 1000) / 1000);
    // BN is the identity up to 1/sqrt(1 + eps); the edge between columns 2 and 3 responds with 4.
    expect(row.map((v) => Math.round(v))).toEqual([0, 0, 4, 4, 0, -4]);
  });

  it('parses --init values', () => {
    expect(parseWeightSource('seed:42')).toEqual({ kind: 'seed', seed: 42 });
    expect(parseWeightSource('filters:sobel')).toEqual({ kind: 'filters', filter: 'sobel_x' });
    expect(() => parseWeightSource('filters:wavy')).toThrow(/unknown filter "wavy"/);
    expect(() => parseWeightSource('seed:-1')).toThrow(/non-negative integer/);
    expect(() => parseWeightSource('random')).toThrow(/seed:N or filters:NAME/);
  });
});

describe('made weights for the pooling, upsampling and squeeze-excitation layers', () => {
  const decoder = resolveModel(
    {
      layers: [
        { type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, padding: 1 },
        { type: 'SqueezeExcitation', input_channels: 8, squeeze_channels: 2, scale_activation: 'Hardsigmoid' },
        { type: 'MaxPool2d', kernel_size: 2 },
        { type: 'ConvTranspose2d', in_channels: 8, out_channels: 4, kernel_size: 4, stride: 2, padding: 1, groups: 2 },
        { type: 'Upsample', scale_factor: 2, mode: 'bilinear' },
        { type: 'ChannelShuffle', groups: 2 },
      ],
    },
    { inputShape: [1, 3, 8, 8] },
  );
  const input = { shape: [1, 3, 8, 8], data: Float32Array.from({ length: 192 }, (_, i) => Math.sin(i)) };

  it("seeded: every tensor, the transposed conv within PyTorch's bound 1/sqrt((out / groups) * kh * kw)", async () => {
    const weights = initWeights(decoder, { seed: 3 });
    expect(Object.keys(weights).sort()).toEqual(
      parameterShapes(decoder)
        .map((t) => t.key)
        .sort(),
    );
    const bound = 1 / Math.sqrt(2 * 4 * 4);
    expect(Math.max(...weights['3.weight']!.data.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...weights['3.weight']!.data.map(Math.abs))).toBeGreaterThan(bound / 2);
    expect((await forward(decoder, weights, input)).output.shape).toEqual([1, 4, 16, 16]);
  });

  it('filters: a transposed conv that upsamples evenly (a constant image stays constant inside)', async () => {
    const weights = filterWeights(decoder, 'box');
    expect(Object.keys(weights).sort()).toEqual(
      parameterShapes(decoder)
        .map((t) => t.key)
        .sort(),
    );
    const up = resolveModel(
      { layers: [{ type: 'ConvTranspose2d', in_channels: 2, out_channels: 2, kernel_size: 4, stride: 2, padding: 1 }] },
      { inputShape: [1, 2, 4, 4] },
    );
    const { output } = await forward(up, filterWeights(up, 'box'), { shape: [1, 2, 4, 4], data: new Float32Array(32).fill(1) });
    // Interior pixels receive 2 x 2 taps of 1/4 each.
    expect(output.data[(0 * 8 + 3) * 8 + 3]).toBeCloseTo(1, 6);
    expect(output.data[(1 * 8 + 4) * 8 + 2]).toBeCloseTo(1, 6);
  });
});
