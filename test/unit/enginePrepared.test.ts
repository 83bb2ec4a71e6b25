/**
 * prepare(): a model whose weights are checked, folded and packed once, run many times. Its runs
 * must equal the reference (and forward()) whatever the kernels, run after run (activation
 * buffers are reused), across input shapes and with residual adds kept alive over several
 * steps; bad weights fail at prepare, bad inputs at run, with the same errors as forward().
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, EngineInputError } from '../../src/engine/errors';
import type { CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { jsKernels } from '../../src/engine/cpu/kernels/jsKernels';
import { referenceForward } from '../../src/engine/cpu/reference';
import { forward } from '../../src/engine/forward';
import { prepare } from '../../src/engine/preparedModel';
import { initWeights } from '../../src/engine/weights';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { allcloseViolation, loadWasmKernels, randomTensor } from './engineAllclose';

let wasm: CpuKernels;
beforeAll(async () => {
  wasm = await loadWasmKernels();
}, 120_000);

/** A small MobileNetV2-like stack: residual adds across three steps, a Hardswish the kernels do not fuse, BN, pool and a classifier. */
const residualNet: ModelSpec = {
  layers: [
    { type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, bias: false },
    { type: 'BatchNorm2d', num_features: 8 },
    { type: 'Hardswish' },
    { type: 'InvertedResidual', in_channels: 8, out_channels: 8, stride: 1, expand_ratio: 6 },
    { type: 'InvertedResidual', in_channels: 8, out_channels: 16, stride: 2, expand_ratio: 6 },
    { type: 'InvertedResidual', in_channels: 16, out_channels: 16, stride: 1, expand_ratio: 6 },
    { type: 'DepthwiseSeparable', in_channels: 16, out_channels: 24, kernel_size: 5, padding_mode: 'reflect', activation: 'SiLU' },
    { type: 'Dropout' },
    { type: 'AdaptiveAvgPool2d', output_size: 1 },
    { type: 'Flatten' },
    { type: 'Linear', in_features: 24, out_features: 10 },
  ],
};

/** BN statistics that are not the identity, so folding shows. */
function weightsFor(model: ReturnType<typeof resolveModel>, seed: number) {
  const weights = initWeights(model, { seed });
  for (const [key, tensor] of Object.entries(weights)) {
    if (key.endsWith('running_var')) tensor.data.forEach((_, i) => (tensor.data[i] = 0.5 + ((i * 7919 + seed) % 13) / 10));
    if (key.endsWith('running_mean')) tensor.data.forEach((_, i) => (tensor.data[i] = (((i * 31 + seed) % 17) - 8) / 10));
  }
  return weights;
}

describe.each([
  ['js', () => jsKernels],
  ['wasm-simd', () => wasm],
] as const)('prepare() on the %s kernels', (_name, kernelsOf) => {
  it('runs equal the reference, run after run, across batch sizes and image sizes, fused and not', async () => {
    const model = resolveModel(residualNet, { inputShape: [1, 3, 32, 28] });
    const weights = weightsFor(model, 3);
    for (const fuse of [true, false]) {
      const session = await prepare(model, weights, { kernels: kernelsOf(), fuse });
      // Shapes in an order that makes the buffers change size both ways, and comes back to a seen one.
      const shapes = [
        [1, 3, 32, 28],
        [2, 3, 20, 24],
        [1, 3, 32, 28],
        [3, 3, 16, 16],
        [2, 3, 20, 24],
      ];
      for (const [i, shape] of shapes.entries()) {
        const input = randomTensor(shape, 100 + i);
        const expected = referenceForward(resolveModel(residualNet, { inputShape: shape }), weights, input);
        const result = await session.run(input, { intermediates: true });
        expect(allcloseViolation(result.output, expected.output, 1e-4, 1e-4), `run ${i} [${shape}] fuse=${fuse}`).toBeUndefined();
        for (const step of result.intermediates!) {
          expect(allcloseViolation(step.tensor, expected.outputs.get(step.key)!, 1e-4, 1e-4), `${step.label} in run ${i}`).toBeUndefined();
        }
      }
    }
  });

  it('gives the same numbers as forward(), and outputs that later runs do not overwrite', async () => {
    const model = resolveModel(residualNet, { inputShape: [1, 3, 24, 24] });
    const weights = weightsFor(model, 9);
    const session = await prepare(model, weights, { kernels: kernelsOf() });
    const a = randomTensor([1, 3, 24, 24], 1);
    const b = randomTensor([1, 3, 24, 24], 2);
    const first = await session.run(a, { intermediates: true });
    const kept = first.output.data.slice();
    const keptStep = first.intermediates![2]!.tensor.data.slice();
    await session.run(b, { intermediates: true });
    expect(first.output.data).toEqual(kept);
    expect(first.intermediates![2]!.tensor.data).toEqual(keptStep);
    const once = await forward(model, weights, a, { backend: 'cpu' });
    expect(allcloseViolation(first.output, once.output, 1e-5, 1e-5)).toBeUndefined();
    expect(first.timings.length).toBe(first.intermediates!.length);
  });
});

describe('prepare() errors', () => {
  const model = resolveModel(residualNet, { inputShape: [1, 3, 16, 16] });

  it('checks the weights once, at prepare: a wrong shape, a missing key and a NaN each name the layer and the tensor', async () => {
    const weights = weightsFor(model, 1);
    await expect(prepare(model, { ...weights, '0.weight': { shape: [8, 3, 2, 2], data: new Float32Array(96) } }, { kernels: jsKernels })).rejects.toThrow(
      /layers\[0\].*0\.weight.*shape/,
    );
    const { ['1.running_var']: _dropped, ...missing } = weights;
    await expect(prepare(model, missing, { kernels: jsKernels })).rejects.toThrow(EngineInputError);
    const poisoned = { ...weights, '3.conv.0.0.weight': { ...weights['3.conv.0.0.weight']!, data: weights['3.conv.0.0.weight']!.data.slice() } };
    poisoned['3.conv.0.0.weight'].data[5] = Number.NaN;
    await expect(prepare(model, poisoned, { kernels: jsKernels })).rejects.toThrow(/3\.conv\.0\.0\.weight.*element 5 is NaN/);
  });

  it('checks every input at run: channels, values, shape, and honours cancellation', async () => {
    const session = await prepare(model, weightsFor(model, 1), { kernels: wasm });
    await expect(session.run(randomTensor([1, 4, 16, 16], 1))).rejects.toThrow(EngineInputError);
    const bad = randomTensor([1, 3, 16, 16], 1);
    bad.data[7] = Number.POSITIVE_INFINITY;
    await expect(session.run(bad)).rejects.toThrow(/input.*element 7/);
    await expect(session.run({ shape: [1, 3, 16], data: new Float32Array(48) })).rejects.toThrow(EngineInputError);
    const controller = new AbortController();
    controller.abort();
    await expect(session.run(randomTensor([1, 3, 16, 16], 1), { signal: controller.signal })).rejects.toThrow(CancelledError);
    // The session still works after the failures.
    const ok = await session.run(randomTensor([1, 3, 16, 16], 2));
    expect(ok.output.shape).toEqual([1, 10]);
  });

  it('copies the values it returns into the arrays the caller gives, by length', async () => {
    const session = await prepare(model, weightsFor(model, 1), { kernels: wasm });
    const x = randomTensor([1, 3, 16, 16], 3);
    const plain = await session.run(x, { intermediates: true });
    const given: Float32Array[] = [];
    const result = await session.run(x, {
      intermediates: true,
      arrays: (floats) => {
        const array = new Float32Array(floats).fill(Number.NaN);
        given.push(array);
        return array;
      },
    });
    expect(given).toContain(result.output.data);
    expect(result.output.data).toEqual(plain.output.data);
    result.intermediates!.forEach((step, i) => {
      expect(given).toContain(step.tensor.data);
      expect(step.tensor.data).toEqual(plain.intermediates![i]!.tensor.data);
    });
    await expect(session.run(x, { arrays: (floats) => new Float32Array(floats + 1) })).rejects.toThrow(/options.arrays gave/);
  });

  it('refuses an unknown backend with a clear message (webgpu sessions: webgpu.test.ts)', async () => {
    await expect(prepare(model, weightsFor(model, 1), { backend: 'tpu' as 'cpu' })).rejects.toThrow('unknown backend "tpu" (known: cpu, webgpu)');
  });
});
