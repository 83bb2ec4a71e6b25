/**
 * The WebAssembly SIMD kernels (built from src/engine/cpu/wasm/assembly with asc) against the
 * reference on random shapes: depthwise (every kernel size, stride, dilation, padding, multiplier,
 * including the specialised 3x3 stride 1 and 2 paths), pointwise GEMM across its tile and block
 * edges, general and grouped convolutions through im2col, fused and unfused epilogues, and a
 * MobileNet-style stack through the CPU backend.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveModel, type LayerSpec } from '../../src/shared/spec';
import type { ActivationKind } from '../../src/engine/activationKind';
import type { CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { referenceForward } from '../../src/engine/cpu/reference';
import { forwardCpu } from '../../src/engine/cpu/cpuBackend';
import { firstNonFinite, initWeights, setNonFiniteScan, validateWeights } from '../../src/engine/weights';
import { EngineInputError } from '../../src/engine/errors';
import { resolveForInput } from '../../src/engine/forward';
import { allcloseViolation, loadWasmKernels, randomTensor } from './engineAllclose';
import { convFits, expectConvolveLikeReference, expectPointwiseLikeReference, integerPair, padsUpTo, seed } from './engineArbitraries';
import { loadFixtures } from './fixtureLoader';

let kernels: CpuKernels;

beforeAll(async () => {
  kernels = await loadWasmKernels();
}, 120_000);

const activation = fc.constantFrom<ActivationKind>('none', 'relu', 'relu6', 'silu', 'hardswish');

/** One image, zero padding: the cases of this file (engineKernels.test.ts covers batches and padding modes). */
const single = { n: 1, paddingMode: 'zeros', bias: true } as const;

describe('WebAssembly SIMD kernels against the reference', () => {
  it('reports itself as the SIMD implementation', () => {
    expect(kernels.name).toBe('wasm-simd');
  });

  it('depthwise: any kernel size, stride, dilation, zero padding and multiplier', () => {
    fc.assert(
      fc.property(
        fc
          .record({
            channels: fc.integer({ min: 2, max: 9 }),
            multiplier: fc.integer({ min: 1, max: 3 }),
            height: fc.integer({ min: 1, max: 24 }),
            width: fc.integer({ min: 1, max: 24 }),
            kernel: integerPair(1, 7),
            stride: integerPair(1, 3),
            dilation: integerPair(1, 3),
            pads: padsUpTo(3),
            activation,
            residual: fc.boolean(),
            seed,
          })
          .filter(convFits),
        (c) => expectConvolveLikeReference(kernels, { ...single, ...c, groups: c.channels, inChannels: c.channels, outChannels: c.channels * c.multiplier }),
      ),
      { numRuns: 200 },
    );
  });

  it('depthwise 3x3, stride 1 and 2 (the register-blocked paths), MobileNet padding, larger planes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 3, max: 60 }),
        fc.integer({ min: 3, max: 60 }),
        seed,
        activation,
        (stride, height, width, seed, act) =>
          expectConvolveLikeReference(kernels, {
            ...single,
            height,
            width,
            kernel: [3, 3],
            stride: [stride, stride],
            dilation: [1, 1],
            pads: [1, 1, 1, 1],
            activation: act,
            residual: false,
            seed,
            groups: 5,
            inChannels: 5,
            outChannels: 5,
          }),
      ),
      { numRuns: 80 },
    );
  });

  it('pointwise GEMM: channel counts and pixel counts off the 4x8 tile and the cache block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 150 }),
        seed,
        activation,
        (inChannels, outChannels, pixels, seed, act) =>
          expectPointwiseLikeReference(kernels, { inChannels, outChannels, pixels, bias: true, activation: act, seeds: [seed, seed + 1, seed + 2] }, 1e-5),
      ),
      { numRuns: 150 },
    );
    // K far past one cache block (the packed A block is 64 KiB), M past several blocks.
    // ... and one pixel (the matrix-vector path Linear layers take), k on and off the 8-float step.
    for (const [inChannels, outChannels, pixels] of [
      [1500, 20, 9],
      [3, 700, 33],
      [300, 7, 300],
      [1024, 1000, 1],
      [37, 9, 1],
      [8, 3, 1],
      [1, 1, 1],
    ] as const) {
      const seeds: [number, number, number] = [inChannels, outChannels, inChannels + outChannels];
      expectPointwiseLikeReference(kernels, { inChannels, outChannels, pixels, bias: false, activation: 'none', seeds }, 1e-4);
      expectPointwiseLikeReference(kernels, { inChannels, outChannels, pixels, bias: true, activation: 'relu6', seeds }, 1e-4);
    }
  });

  /** Standard and grouped convs: groups x (groupIn -> groupOut) channels. */
  const grouped = (c: { groups: number; groupIn: number; groupOut: number }) => ({ inChannels: c.groups * c.groupIn, outChannels: c.groups * c.groupOut });

  it('standard and grouped convolutions through im2col', () => {
    fc.assert(
      fc.property(
        fc
          .record({
            groups: fc.integer({ min: 1, max: 3 }),
            groupIn: fc.integer({ min: 1, max: 4 }),
            groupOut: fc.integer({ min: 1, max: 6 }),
            height: fc.integer({ min: 1, max: 16 }),
            width: fc.integer({ min: 1, max: 16 }),
            kernel: integerPair(1, 5),
            stride: integerPair(1, 3),
            dilation: integerPair(1, 2),
            pads: padsUpTo(2),
            activation,
            residual: fc.boolean(),
            seed,
          })
          .filter(convFits),
        (c) => expectConvolveLikeReference(kernels, { ...single, ...c, ...grouped(c) }),
      ),
      { numRuns: 150 },
    );
  });

  it('im2col on wide rows (whole 8-pixel panels gathered as vectors at stride 1 and 2, borders lane by lane)', () => {
    fc.assert(
      fc.property(
        fc
          .record({
            groups: fc.integer({ min: 1, max: 2 }),
            groupIn: fc.integer({ min: 1, max: 3 }),
            groupOut: fc.integer({ min: 1, max: 5 }),
            height: fc.integer({ min: 1, max: 6 }),
            width: fc.integer({ min: 17, max: 70 }),
            kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 })),
            stride: integerPair(1, 2),
            dilation: fc.tuple(fc.constant(1), fc.integer({ min: 1, max: 2 })),
            pads: padsUpTo(1, 2),
            activation,
            residual: fc.boolean(),
            seed,
          })
          .filter(convFits),
        (c) => expectConvolveLikeReference(kernels, { ...single, ...c, ...grouped(c) }),
      ),
      { numRuns: 80 },
    );
    // MobileNet's first conv: 3 -> 8 channels, 3x3, stride 2, padding 1, on a 224-wide row.
    expectConvolveLikeReference(kernels, {
      ...single,
      groups: 1,
      inChannels: 3,
      outChannels: 8,
      height: 5,
      width: 224,
      kernel: [3, 3],
      stride: [2, 2],
      dilation: [1, 1],
      pads: [1, 1, 1, 1],
      activation: 'relu',
      residual: false,
      seed: 5,
    });
  });

  it('a MobileNetV1-style stack through the CPU backend equals the reference', async () => {
    const layers: LayerSpec[] = [
      { type: 'Conv2d', in_channels: 3, out_channels: 16, kernel_size: 3, stride: 2, padding: 1 },
      { type: 'BatchNorm2d', num_features: 16 },
      { type: 'ReLU' },
      { type: 'DepthwiseSeparable', in_channels: 16, out_channels: 24, stride: 1 },
      { type: 'DepthwiseSeparable', in_channels: 24, out_channels: 40, stride: 2, activation: 'ReLU6' },
      { type: 'InvertedResidual', in_channels: 40, out_channels: 40, expand_ratio: 6 },
      { type: 'AdaptiveAvgPool2d', output_size: 1 },
      { type: 'Flatten' },
      { type: 'Linear', in_features: 40, out_features: 10 },
    ];
    const model = resolveModel({ layers }, { inputShape: [2, 3, 37, 29] });
    const weights = initWeights(model, { seed: 3 });
    for (const [key, tensor] of Object.entries(weights)) {
      if (key.endsWith('running_var')) tensor.data.forEach((_, i) => (tensor.data[i] = 0.5 + (i % 7) / 7));
      if (key.endsWith('running_mean')) tensor.data.forEach((_, i) => (tensor.data[i] = ((i % 5) - 2) / 10));
    }
    const input = randomTensor([2, 3, 37, 29], 11);
    const expected = referenceForward(model, weights, input);
    const actual = await forwardCpu(model, weights, input, { kernels });
    expect(actual.backend).toBe('cpu (wasm-simd)');
    expect(allcloseViolation(actual.output, expected.output, 1e-4, 1e-4)).toBeUndefined();
  });
});

describe('the WebAssembly SIMD NaN/Inf scan', () => {
  const scan = (data: Float32Array) => (kernels as unknown as { firstNonFinite(d: Float32Array): number }).firstNonFinite(data);

  it('finds the first NaN or infinity anywhere, across its 1M-float chunks, and -1 when there is none', () => {
    const data = randomTensor([(1 << 20) + 37], 4).data;
    expect(scan(data)).toBe(-1);
    for (const [index, value] of [
      [0, NaN],
      [15, Infinity],
      [16, -Infinity],
      [(1 << 20) - 1, NaN],
      [1 << 20, Infinity],
      [(1 << 20) + 36, NaN],
    ] as const) {
      const copy = data.slice();
      copy[index] = value;
      copy[index + 1 < copy.length ? index + 1 : 0] = NaN;
      expect(scan(copy)).toBe(index === (1 << 20) + 36 ? 0 : index);
    }
    // Values next to the limits are finite.
    expect(scan(Float32Array.from([3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0, 0]))).toBe(-1);
  });

  it('serves validateWeights once installed, with the same error naming the tensor and the element', () => {
    const model = resolveModel({ layers: [{ type: 'Conv2d', in_channels: 64, out_channels: 128, kernel_size: 3 }] }, { inputShape: [1, 64, 8, 8] });
    const weights = initWeights(model, { seed: 1 });
    weights['0.weight']!.data[5000] = -Infinity;
    setNonFiniteScan(scan);
    try {
      expect(firstNonFinite(weights['0.weight']!.data)).toBe(5000);
      expect(() => validateWeights(model, weights)).toThrow(EngineInputError);
      expect(() => validateWeights(model, weights)).toThrow(/0\.weight.*element 5000 is -Infinity/);
    } finally {
      setNonFiniteScan(undefined);
    }
  });
});

describe('WebAssembly SIMD kernels and weights changed between runs', () => {
  it('a weight array changed in place between two forward calls gives the new result, not a cached one', async () => {
    const layers: LayerSpec[] = [{ type: 'DepthwiseSeparable', in_channels: 4, out_channels: 6, batch_norm: false, bias: true }];
    const model = resolveModel({ layers }, { inputShape: [2, 4, 9, 9] });
    const weights = initWeights(model, { seed: 5 });
    const input = randomTensor([2, 4, 9, 9], 8);
    const first = await forwardCpu(model, weights, input, { kernels });
    expect(allcloseViolation(first.output, referenceForward(model, weights, input).output, 1e-4, 1e-4)).toBeUndefined();
    for (const tensor of Object.values(weights)) tensor.data.forEach((v, i) => (tensor.data[i] = -0.5 * v + 0.01 * (i % 3)));
    const second = await forwardCpu(model, weights, input, { kernels });
    expect(allcloseViolation(second.output, referenceForward(model, weights, input).output, 1e-4, 1e-4)).toBeUndefined();
  });
});

describe('WebAssembly SIMD kernels on the PyTorch fixtures', () => {
  const fixtures = loadFixtures();

  it('has fixtures to check', () => {
    expect(fixtures.length).toBeGreaterThan(50);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s within 1e-4, fused and unfused', async (_name, fixture) => {
    const model = resolveForInput(fixture.model, fixture.input);
    for (const fuse of [true, false]) {
      const result = await forwardCpu(model, fixture.weights, fixture.input, { kernels, fuse });
      expect(allcloseViolation(result.output, fixture.output), `fuse ${fuse}`).toBeUndefined();
    }
  });
});
