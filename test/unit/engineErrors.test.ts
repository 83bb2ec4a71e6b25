/** Bad input never crashes and never returns garbage: each error names the layer path and the tensor. */
import { describe, expect, it } from 'vitest';
import { CancelledError, EngineInputError } from '../../src/engine/errors';
import { forward } from '../../src/engine/forward';
import { lowerModel } from '../../src/engine/graph/graph';
import { planGraph } from '../../src/engine/graph/planner';
import { initWeights } from '../../src/engine/weights';
import { resolveModel, SpecError, type ModelSpec } from '../../src/shared/spec';
import type { Tensor } from '../../src/shared/tensor';

const model: ModelSpec = {
  layers: [
    { type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, padding: 1 },
    { type: 'InvertedResidual', in_channels: 8, out_channels: 8, expand_ratio: 2 },
  ],
};
const shape = [1, 3, 8, 8];
const resolved = resolveModel(model, { inputShape: shape });
const input = (): Tensor => ({ shape: [...shape], data: new Float32Array(3 * 64).map((_, i) => Math.sin(i)) });
const weights = () => initWeights(resolved, { seed: 1 });

async function rejection(promise: Promise<unknown>): Promise<EngineInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineInputError);
  return error as EngineInputError;
}

describe('forward: bad weights', () => {
  it('runs with valid weights and ignores extra keys (num_batches_tracked)', async () => {
    const w = { ...weights(), '1.conv.0.1.num_batches_tracked': { shape: [], data: new Float32Array(1) } };
    const result = await forward(model, w, input());
    expect(result.output.shape).toEqual([1, 8, 8, 8]);
    expect(result.output.data.every(Number.isFinite)).toBe(true);
  });

  it('a missing key names the layer path and the tensor', async () => {
    const w = weights();
    delete w['1.conv.1.0.weight'];
    const error = await rejection(forward(model, w, input()));
    expect(error.layerPath).toBe('layers[1].conv.1.0');
    expect(error.tensor).toBe('1.conv.1.0.weight');
    expect(error.message).toContain('missing');
    expect(error.message).toContain('[16, 1, 3, 3]');
  });

  it('a wrong shape names both shapes', async () => {
    const w = weights();
    w['0.weight'] = { shape: [8, 3, 5, 5], data: new Float32Array(8 * 3 * 25) };
    const error = await rejection(forward(model, w, input()));
    expect(error.layerPath).toBe('layers[0]');
    expect(error.message).toMatch(/has shape \[8, 3, 5, 5\], expected \[8, 3, 3, 3\]/);
  });

  it('a NaN or infinite weight, a negative running variance, data that does not fill the shape', async () => {
    const cases: Array<[string, (w: ReturnType<typeof weights>) => void, RegExp]> = [
      ['1.conv.0.1.bias', (w) => (w['1.conv.0.1.bias']!.data[3] = NaN), /element 3 is NaN/],
      ['0.bias', (w) => (w['0.bias']!.data[0] = Infinity), /element 0 is Infinity/],
      ['1.conv.3.running_var', (w) => (w['1.conv.3.running_var']!.data[2] = -1), /variance 2 is negative/],
      ['1.conv.2.weight', (w) => (w['1.conv.2.weight']!.data = new Float32Array(5)), /has 5 values/],
      ['1.conv.2.weight', (w) => ((w['1.conv.2.weight'] as unknown as { data: number[] }).data = [1, 2]), /Float32Array/],
    ];
    for (const [tensor, spoil, message] of cases) {
      const w = weights();
      spoil(w);
      const error = await rejection(forward(model, w, input()));
      expect(error.tensor).toBe(tensor);
      expect(error.message).toMatch(message);
    }
  });
});

describe('forward: bad input', () => {
  it('NaN or Inf in the input names the element', async () => {
    const x = input();
    x.data[70] = NaN;
    const error = await rejection(forward(model, weights(), x));
    expect(error.tensor).toBe('input');
    expect(error.layerPath).toBe('layers[0]');
    expect(error.message).toContain('element 70 (n=0, c=1, y=0, x=6) is NaN');
    x.data[70] = -Infinity;
    expect((await rejection(forward(model, weights(), x))).message).toContain('-Infinity');
  });

  it('the wrong channel count names the layer that cannot take it', async () => {
    const error = await rejection(forward(model, weights(), { shape: [1, 4, 8, 8], data: new Float32Array(4 * 64) }));
    expect(error.layerPath).toBe('layers[0]');
    expect(error.tensor).toBe('input');
    expect(error.message).toMatch(/in_channels=3 but the input has 4 channels/);
  });

  it('a malformed input tensor', async () => {
    expect((await rejection(forward(model, weights(), { shape: [3, 8, 8], data: new Float32Array(192) }))).message).toMatch(/\[N, C, H, W\]/);
    expect((await rejection(forward(model, weights(), { shape: [1, 3, 8, 8], data: new Float32Array(10) }))).message).toMatch(/has 10 values/);
    expect((await rejection(forward(model, weights(), { shape: [1, 3, 8, 8], data: new Float64Array(192) as unknown as Float32Array }))).message).toMatch(
      /Float32Array/,
    );
  });

  it('an input too small for a kernel is an input error; an invalid spec stays a spec error', async () => {
    const valid: ModelSpec = { layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 2, kernel_size: 5 }] };
    const small = resolveModel(valid, { inputShape: [1, 3, 8, 8] });
    const error = await rejection(forward(valid, initWeights(small, { seed: 0 }), { shape: [1, 3, 3, 3], data: new Float32Array(27) }));
    expect(error.message).toContain('input shape [1, 3, 3, 3]');
    const invalid = { layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 2, kernel_size: 3, groups: 2 }] };
    await expect(forward(invalid, {}, input())).rejects.toBeInstanceOf(SpecError);
  });

  it('a resolved model is re-resolved for an input of another size', async () => {
    const result = await forward(resolved, weights(), { shape: [2, 3, 5, 7], data: new Float32Array(2 * 3 * 35).fill(0.5) });
    expect(result.output.shape).toEqual([2, 8, 5, 7]);
  });
});

describe('forward: options', () => {
  it('reports progress for every step and stops when the signal aborts', async () => {
    const progress: Array<[number, number]> = [];
    const result = await forward(model, weights(), input(), { onProgress: (done, total) => progress.push([done, total]) });
    expect(progress.length).toBe(result.timings.length);
    expect(progress[progress.length - 1]).toEqual([result.timings.length, result.timings.length]);
    const controller = new AbortController();
    const aborted = forward(model, weights(), input(), { signal: controller.signal, onProgress: (done) => done === 2 && controller.abort() });
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
  });

  it('intermediates: the dw and pw halves of a DepthwiseSeparable block are separate steps, labelled', async () => {
    const ds: ModelSpec = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 6 }] };
    const r = resolveModel(ds, { inputShape: shape });
    const result = await forward(ds, initWeights(r, { seed: 3 }), input(), { intermediates: true });
    expect(result.intermediates!.map((s) => [s.key, s.role, s.label])).toEqual([
      ['0.2', 'depthwise', 'Conv2d 3x3 depthwise + BatchNorm2d (folded) + ReLU'],
      ['0.5', 'pointwise', 'Conv2d 1x1 pointwise + BatchNorm2d (folded) + ReLU'],
    ]);
    expect(result.intermediates![0]!.leafKeys).toEqual(['0.0', '0.1', '0.2']);
    const unfused = await forward(ds, initWeights(r, { seed: 3 }), input(), { intermediates: true, fuse: false });
    expect(unfused.intermediates!.map((s) => s.key)).toEqual(['0.0', '0.1', '0.2', '0.3', '0.4', '0.5']);
    expect(unfused.intermediates![0]!.label).toBe('Conv2d 3x3 depthwise');
    expect(result.backend).toMatch(/^cpu \(/);
  });

  it('a conv does not take the BatchNorm that opens a Residual after it: the block needs the conv output as its skip input', async () => {
    const spec: ModelSpec = {
      layers: [
        { type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1 },
        { type: 'Residual', body: [{ type: 'BatchNorm2d', num_features: 4 }, { type: 'ReLU' }] },
      ],
    };
    const r = resolveModel(spec, { inputShape: shape });
    const result = await forward(spec, initWeights(r, { seed: 4 }), input(), { intermediates: true });
    const steps = result.intermediates!.map(({ key, leafKeys, label, layerIndex, role }) => ({ key, leafKeys, label, layerIndex, role }));
    expect(steps).toEqual(
      planGraph(lowerModel(r), { fuse: true }).steps.map(({ key, leafKeys, label, layerIndex, role }) => ({ key, leafKeys, label, layerIndex, role })),
    );
    expect(steps.map((s) => [s.key, s.leafKeys, s.label])).toEqual([
      ['0', ['0'], 'Conv2d 3x3 standard'],
      ['1', ['1.body.0', '1.body.1'], 'BatchNorm2d + ReLU + skip add'],
    ]);
  });

  it('an unknown backend is an error', async () => {
    await expect(forward(model, weights(), input(), { backend: 'tpu' as 'cpu' })).rejects.toThrow(/unknown backend "tpu"/);
  });
});
