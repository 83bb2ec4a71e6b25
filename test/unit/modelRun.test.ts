import { describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { featureMapOf, packedFeatureMaps, runModel, toRunResult } from '../../src/engine/modelRun';
import { packFeatureMaps } from '../../src/shared/packedMaps';
import { isWeightSource, makeWeights } from '../../src/engine/weights';
import { resolveModel } from '../../src/shared/spec';
import { exactBuffer, type Tensor } from '../../src/shared/tensor';

const model = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 4 }] };
const input: Tensor = { shape: [1, 3, 6, 5], data: Float32Array.from({ length: 90 }, (_, i) => Math.sin(i)) };

describe('runModel', () => {
  it('makes described weights for the model resolved at the input shape, as forward() with makeWeights would', async () => {
    const expected = await forward(model, makeWeights(resolveModel(model, { inputShape: input.shape }), { kind: 'seed', seed: 7 }), input);
    const got = await runModel(model, { kind: 'seed', seed: 7 }, input);
    expect(got.output.shape).toEqual([1, 4, 6, 5]);
    expect(Array.from(got.output.data)).toEqual(Array.from(expected.output.data));
  });

  it('runs given tensors as they are', async () => {
    const weights = makeWeights(resolveModel(model, { inputShape: input.shape }), { kind: 'filters', filter: 'identity' });
    expect(isWeightSource(weights)).toBe(false);
    const got = await runModel(model, weights, input);
    const expected = await forward(model, weights, input);
    expect(Array.from(got.output.data)).toEqual(Array.from(expected.output.data));
  });

  it('reports an input the model cannot take as an error, not a result', async () => {
    await expect(runModel(model, { kind: 'seed', seed: 1 }, { shape: [1, 2, 6, 5], data: new Float32Array(60) })).rejects.toThrow(/channel/i);
  });
});

describe('toRunResult', () => {
  it('gives the page every step with its preview, the output shape and the timings', async () => {
    const result = await runModel(model, { kind: 'seed', seed: 3 }, input, { intermediates: true, fuse: false });
    const steps = result.intermediates!;
    const maps = steps.map((step) => featureMapOf(step, step.tensor, 2));
    const answer = toRunResult(result, maps, { backend: 'cpu', device: 'test', runId: 5, totalMs: 1.5 });
    expect(answer.featureMaps.map((m) => m.key)).toEqual(steps.map((s) => s.key));
    expect(answer.featureMaps.every((m) => m.previewChannels === 2 && m.preview.byteLength === 2 * 6 * 5)).toBe(true);
    expect(answer.featureMaps[0]!.ranges.byteLength).toBe(4 * 2 * steps[0]!.tensor.shape[1]!);
    expect(answer).toMatchObject({ backend: 'cpu', device: 'test', runId: 5, totalMs: 1.5, outputShape: [1, 4, 6, 5] });
    expect(answer.timings.map((t) => Object.keys(t).sort())).toEqual(result.timings.map(() => ['key', 'label', 'ms']));
    expect('note' in answer).toBe(false);
  });
});

describe('packedFeatureMaps', () => {
  it('writes the same maps as featureMapOf then packFeatureMaps, in one buffer', async () => {
    const result = await runModel(model, { kind: 'seed', seed: 4 }, input, { intermediates: true, fuse: false });
    const steps = result.intermediates!;
    for (const channels of [0, 2, 128]) {
      const packed = packedFeatureMaps(steps, channels);
      const expected = packFeatureMaps(steps.map((step) => featureMapOf(step, step.tensor, channels)));
      expect(packed.map((m) => ({ ...m, preview: [...m.preview], ranges: [...m.ranges] }))).toEqual(
        expected.map((m) => ({ ...m, preview: [...m.preview], ranges: [...m.ranges] })),
      );
      expect(new Set(packed.flatMap((m) => [m.preview.buffer, m.ranges.buffer])).size).toBe(1);
    }
  });
});

describe('exactBuffer', () => {
  it('hands back a buffer the view spans whole, and copies a view into a larger one', () => {
    const whole = new Float32Array([1, 2, 3]);
    expect(exactBuffer(whole)).toBe(whole.buffer);
    const view = new Float32Array(new Float32Array([0, 1, 2, 3, 4]).buffer, 4, 3);
    const copy = exactBuffer(view);
    expect(copy).not.toBe(view.buffer);
    expect(Array.from(new Float32Array(copy))).toEqual([1, 2, 3]);
    const bytes = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    expect(Array.from(new Uint8Array(exactBuffer(bytes)))).toEqual([8, 7]);
  });
});
