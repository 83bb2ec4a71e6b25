/**
 * Shared by the kernel property tests (engineKernels, wasmKernels): random conv cases, and the
 * checks of a CpuKernels implementation against the reference on them.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { convOutputSize } from '../../src/shared/spec';
import type { ActivationKind } from '../../src/engine/activationKind';
import type { CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { convolve, type ConvParameters } from '../../src/engine/cpu/plan';
import { activationReference, addReference, conv2dReference } from '../../src/engine/cpu/reference';
import { allcloseViolation, randomTensor } from './engineAllclose';

/** One conv on a batch: the conv, the input's size, the fused epilogue, and the seed of its tensors. */
export interface ConvCase extends ConvParameters {
  n: number;
  height: number;
  width: number;
  bias: boolean;
  activation: ActivationKind;
  residual: boolean;
  seed: number;
}

/** A pair of integers in [min, max] each: kernel sizes, strides, dilations. */
export const integerPair = (min: number, max: number): fc.Arbitrary<[number, number]> => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));

/** Paddings [top, bottom, left, right], each from 0 to `vertical` (top, bottom) or `horizontal` (left, right). */
export const padsUpTo = (vertical: number, horizontal = vertical): fc.Arbitrary<[number, number, number, number]> =>
  fc.tuple(fc.nat(vertical), fc.nat(vertical), fc.nat(horizontal), fc.nat(horizontal));

/** Seeds for {@link randomTensor}: fast-check shrinks a seed, not thousands of floats. */
export const seed = fc.integer({ min: 1, max: 1e9 });

/** Whether the padded input holds at least one kernel window in each dimension. */
export function convFits(c: Pick<ConvCase, 'height' | 'width' | 'kernel' | 'stride' | 'dilation' | 'pads'>): boolean {
  return convOutputSize(c.height, c.kernel[0], c.stride[0], c.dilation[0], c.pads[0] + c.pads[1]) >= 1
    && convOutputSize(c.width, c.kernel[1], c.stride[1], c.dilation[1], c.pads[2] + c.pads[3]) >= 1;
}

/** `convolve` with `kernels` equals conv + activation (+ residual) of the reference within `tolerance`. */
export function expectConvolveLikeReference(kernels: CpuKernels, c: ConvCase, tolerance = 1e-5): void {
  const input = randomTensor([c.n, c.inChannels, c.height, c.width], c.seed);
  const weight = randomTensor([c.outChannels, c.inChannels / c.groups, c.kernel[0], c.kernel[1]], c.seed + 1);
  const bias = c.bias ? randomTensor([c.outChannels], c.seed + 2) : undefined;
  let expected = activationReference(conv2dReference(input, weight, bias, c), c.activation);
  const residual = c.residual ? randomTensor(expected.shape, c.seed + 3) : undefined;
  if (residual) expected = addReference(expected, residual);
  const actual = convolve(kernels, input, c, weight.data, bias?.data, c.activation, residual);
  expect(allcloseViolation(actual, expected, tolerance, tolerance)).toBeUndefined();
}

/**
 * The pointwise GEMM kernel called directly on one image of `pixels` pixels equals a 1x1 conv of
 * the reference (with bias and activation when given) within `tolerance`.
 */
export function expectPointwiseLikeReference(
  kernels: CpuKernels,
  c: { inChannels: number; outChannels: number; pixels: number; bias: boolean; activation: ActivationKind; seeds: [number, number, number] },
  tolerance: number,
): void {
  const { inChannels, outChannels, pixels } = c;
  const input = randomTensor([1, inChannels, 1, pixels], c.seeds[0]);
  const weight = randomTensor([outChannels, inChannels, 1, 1], c.seeds[1]);
  const bias = c.bias ? randomTensor([outChannels], c.seeds[2]) : undefined;
  const expected = activationReference(conv2dReference(input, weight, bias, { stride: [1, 1], dilation: [1, 1], pads: [0, 0, 0, 0], paddingMode: 'zeros', groups: 1 }), c.activation);
  const output = new Float32Array(outChannels * pixels);
  kernels.pointwiseConv2d(input.data, weight.data, output, inChannels, outChannels, pixels, { bias: bias?.data, activation: c.activation });
  expect(allcloseViolation({ shape: expected.shape, data: output }, expected, tolerance, tolerance)).toBeUndefined();
}
