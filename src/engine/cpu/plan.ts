/**
 * The CPU plan: a resolved model turned into a list of steps, made once per prepared model and
 * input shape (see cpuBackend.ts). With fusion on (the default) a conv directly followed by
 * BatchNorm (running stats) has the BN folded into its weights and bias, and the activation and
 * a residual add that follow become its epilogue, so a DepthwiseSeparable block is two passes
 * over memory: dw, then pw. Which leaves make a step is decided in one place, stepLabels.ts
 * (groupSteps), for this plan and the WebGPU backend alike.
 *
 * Steps write into an output buffer the executor hands them (buffers are reused from one step
 * and one run to the next), so a step never allocates its output.
 */
import { convOutputSize, type PaddingMode, type ResolvedBatchNorm, type ResolvedConv2d, type ResolvedModel, type ResolvedResidual } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import { batchNormAffine } from '../batchNormAffine';
import { groupSteps } from '../stepLabels';
import type { Intermediate, WeightMap } from '../types';
import { activationKind, type ActivationKind } from './activation';
import type { ConvGeometry, CpuKernels, Epilogue } from './kernels/cpuKernels';
import { padPlanes } from './kernels/pad';
import { adaptiveAvgPoolReference } from './reference';

/** Remembers a residual block's input until its add. */
export interface SkipSlot {
  tensor?: Tensor;
}

export interface Step {
  key: string;
  leafKeys: string[];
  label: string;
  layerIndex: number;
  role: Intermediate['role'];
  /** Residual blocks that start at this step: their input is this step's input. */
  saveInputTo: SkipSlot[];
  /** Residual blocks whose add this step did: forget their input afterwards. */
  release: SkipSlot[];
  /** The shape of the step's output, batch included. */
  outShape: number[];
  /** The output is the input's values under another shape (Flatten, Dropout): no buffer of its own. */
  aliasesInput: boolean;
  /**
   * Computes the step: writes all of `output` (a buffer of `outShape`, never the input's or a
   * saved residual's) and returns it, or, for a step that aliases its input, returns the input
   * reshaped (`output` is then unused).
   */
  run(input: Tensor, kernels: CpuKernels, output: Tensor): Tensor;
}

export interface PlanOptions {
  fuse: boolean;
  /**
   * Conv weights with BatchNorm folded in, by conv key: plans of one prepared model for several
   * input shapes share them (and so the kernels' packed copies of them).
   */
  folded?: ConvParametersCache;
}

/**
 * A conv's parameters as a step runs them. With a BatchNorm folded in, `unfolded` keeps the conv's
 * own weight and bias and the BatchNorm's scale and shift: the step runs them as two operations,
 * as PyTorch does, whenever the folded weights could give another result (see {@link convParameters}).
 */
export interface ConvParameterSet {
  weight: Float32Array;
  bias?: Float32Array;
  unfolded?: {
    weight: Float32Array;
    bias?: Float32Array;
    scale: Float32Array;
    shift: Float32Array;
    /** The folded weights are used only when every |input| is at most this (Infinity: always; -1: never). */
    safeInput: number;
  };
}

export type ConvParametersCache = Map<string, ConvParameterSet>;

/**
 * Builds the steps: those of {@link groupSteps}, so that both backends report the same. Weights
 * must have been validated (see weights.ts).
 */
export function buildPlan(model: ResolvedModel, weights: WeightMap, options: PlanOptions): Step[] {
  const tensor = (key: string): Float32Array => {
    const found = weights[key];
    if (!found) throw new Error(`internal: weight ${key} missing after validation`);
    return found.data;
  };
  const slots = new Map<ResolvedResidual, SkipSlot>();
  const slotOf = (residual: ResolvedResidual): SkipSlot => {
    let slot = slots.get(residual);
    if (!slot) slots.set(residual, (slot = {}));
    return slot;
  };
  const steps: Step[] = [];
  /** A bound on |value| of the next step's input known from the plan (ReLU6: 6), or Infinity. */
  let inputBound = Infinity;
  for (const group of groupSteps(model, { fuse: options.fuse })) {
    const end = group.skipAdd && slotOf(group.skipAdd);
    const base = {
      ...group.outline,
      saveInputTo: group.opens.map(slotOf),
      release: end ? [end] : [],
      aliasesInput: false,
    };
    const first = group.leaves[0];
    if (!first) {
      const shape = steps.length ? steps[steps.length - 1]!.outShape : model.inputShape;
      steps.push({ ...base, outShape: [...shape], run: (x, kernels, out) => epilogueEach(x, kernels, { activation: 'none' }, end!.tensor, out) });
      inputBound = Infinity;
      continue;
    }
    const node = first.node;
    const outShape = [...group.leaves[group.leaves.length - 1]!.outShape];
    const activation: ActivationKind = group.activation ? activationKind(group.activation.fn, group.activation.approximate) : 'none';
    const getResidual = end ? () => end.tensor : () => undefined;
    const push = (run: Step['run'], aliasesInput = false) => steps.push({ ...base, outShape, aliasesInput, run });
    switch (node.op) {
      case 'conv2d': {
        const parameters = options.folded?.get(node.key) ?? convParameters(node, tensor, group.foldedBatchNorm);
        options.folded?.set(node.key, parameters);
        push(convRunner(node, parameters, activation, getResidual, inputBound));
        break;
      }
      case 'batchnorm2d': {
        if (node.trackRunningStats) {
          const { scale, shift } = batchNormAffine32(node, tensor, tensor(`${node.key}.running_mean`), tensor(`${node.key}.running_var`));
          push((x, kernels, out) => epilogueEach(x, kernels, { scale, bias: shift, activation }, getResidual(), out));
        } else {
          push((x, kernels, out) => {
            const { mean, variance } = batchStatistics(x);
            const { scale, shift } = batchNormAffine32(node, tensor, mean, variance, 'float64');
            return epilogueEach(x, kernels, { scale, bias: shift, activation }, getResidual(), out);
          });
        }
        break;
      }
      case 'activation': {
        const kind = activationKind(node.fn, node.approximate);
        push((x, kernels, out) => epilogueEach(x, kernels, { activation: kind }, getResidual(), out));
        break;
      }
      case 'dropout':
      case 'flatten':
        push((x) => reshaped(x, first.outShape), true);
        break;
      case 'adaptiveavgpool2d':
        push((x, _kernels, out) => {
          // One read of x.data: it may be a getter (see cpuBackend.ts), too slow for an inner loop.
          out.data.set(adaptiveAvgPoolReference({ shape: x.shape, data: x.data }, node.outputSize).data);
          return out;
        });
        break;
      case 'linear': {
        const weight = tensor(`${node.key}.weight`);
        const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
        push((x, kernels, out) => linear(kernels, x, weight, bias, node.inFeatures, node.outFeatures, out));
        break;
      }
    }
    const last = steps[steps.length - 1]!;
    const bounded = !end && (activation === 'relu6' || (node.op === 'activation' && activationKind(node.fn, node.approximate) === 'relu6'));
    // NaN passes ReLU6; it gives NaN folded or not, so the bound serves its purpose (overflow) all the same.
    if (!last.aliasesInput) inputBound = bounded ? 6 : Infinity;
  }
  return steps;
}

/**
 * The same values under another shape. `data` is read through: an activation buffer's view is
 * made anew on every read (see cpuBackend.ts), and a reshape must not pin an old one.
 */
function reshaped(x: Tensor, shape: readonly number[]): Tensor {
  return { shape: [...shape], get data() { return x.data; } };
}

/**
 * A Linear layer row by row as a pointwise conv of one pixel: out[o] = bias[o] + sum_i weight[o][i] * x[i].
 * `x.data` and `out.data` are read again for every row: a kernel call may make older views stale.
 */
function linear(kernels: CpuKernels, x: Tensor, weight: Float32Array, bias: Float32Array | undefined, inFeatures: number, outFeatures: number, out: Tensor): Tensor {
  const rows = x.data.length / inFeatures;
  for (let r = 0; r < rows; r++) {
    kernels.pointwiseConv2d(x.data.subarray(r * inFeatures, (r + 1) * inFeatures), weight, out.data.subarray(r * outFeatures, (r + 1) * outFeatures), inFeatures, outFeatures, 1, { bias, activation: 'none' });
  }
  return out;
}

/** The per-channel scale and shift of an inference BatchNorm, as float32 (see batchNormAffine for the precision). */
function batchNormAffine32(node: ResolvedBatchNorm, tensor: (key: string) => Float32Array, mean: ArrayLike<number>, variance: ArrayLike<number>, precision: 'float32' | 'float64' = 'float32'): { scale: Float32Array; shift: Float32Array } {
  const gamma = node.affine ? tensor(`${node.key}.weight`) : undefined;
  const beta = node.affine ? tensor(`${node.key}.bias`) : undefined;
  const { scale, shift } = batchNormAffine(node, mean, variance, gamma, beta, precision);
  return { scale: Float32Array.from(scale), shift: Float32Array.from(shift) };
}

/** Mean and biased variance per channel over N, H, W (BatchNorm without running stats). */
function batchStatistics(x: Tensor): { mean: Float64Array; variance: Float64Array } {
  const [n, channels, height, width] = x.shape as [number, number, number, number];
  const plane = height * width;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let b = 0; b < n; b++) for (let i = (b * channels + c) * plane, e = i + plane; i < e; i++) sum += x.data[i]!;
    const m = sum / (n * plane);
    let squares = 0;
    for (let b = 0; b < n; b++) {
      for (let i = (b * channels + c) * plane, e = i + plane; i < e; i++) {
        const d = x.data[i]! - m;
        squares += d * d;
      }
    }
    mean[c] = m;
    variance[c] = squares / (n * plane);
  }
  return { mean, variance };
}

/** The largest float32. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** The smallest normal float32: a folded weight below it has lost bits (or all of them). */
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * A conv's weight and bias with a following BatchNorm (running statistics) folded in, computed in
 * float64 and rounded once: w * scale, b * scale + shift, where scale and shift are PyTorch's own
 * float32 values. Folding changes what overflows: PyTorch rounds the conv's output to float32
 * before the BatchNorm scales it. So the unfolded parameters are kept, and used instead, when a
 * folded weight or bias is not finite, or is a float32 subnormal or zero where the weight was not
 * (the weights alone then decide: always), and when an input could make either way overflow
 * float32: |x| above `safeInput`, the bound below which every partial sum of both ways stays
 * under half the largest float32 (checked on every run).
 */
function convParameters(node: ResolvedConv2d, tensor: (key: string) => Float32Array, bn: ResolvedBatchNorm | undefined): ConvParameterSet {
  const weight = tensor(`${node.key}.weight`);
  const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
  if (!bn) return { weight, bias };
  const { scale, shift } = batchNormAffine32(bn, tensor, tensor(`${bn.key}.running_mean`), tensor(`${bn.key}.running_var`));
  const perChannel = weight.length / node.outChannels;
  const foldedWeight = new Float32Array(weight.length);
  const foldedBias = new Float32Array(node.outChannels);
  let foldable = true;
  let safeInput = Infinity;
  for (let o = 0; o < node.outChannels; o++) {
    const s = scale[o]!;
    const b = bias ? bias[o]! : 0;
    let absSum = 0;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) {
      const w = weight[i]!;
      const folded = Math.fround(w * s);
      foldedWeight[i] = folded;
      absSum += Math.abs(w);
      if (!Number.isFinite(folded) || (w !== 0 && Math.abs(folded) < FLOAT32_MIN_NORMAL)) foldable = false;
    }
    foldedBias[o] = Math.fround(b * s + shift[o]!);
    if (!Number.isFinite(foldedBias[o]!) || !Number.isFinite(scale[o]!) || !Number.isFinite(shift[o]!)) foldable = false;
    // Both ways: |partial sum| <= |x|max * sum|w| (+ |b|) unfolded, times |s| (+ |b s + shift|) folded.
    const growth = Math.max(1, Math.abs(s));
    const room = FLOAT32_MAX / 2 - Math.abs(b) * growth - Math.abs(shift[o]!);
    safeInput = Math.min(safeInput, room <= 0 ? -1 : absSum === 0 ? Infinity : room / (absSum * growth));
  }
  const unfolded = { weight, bias, scale, shift, safeInput: foldable ? safeInput : -1 };
  return { weight: foldedWeight, bias: foldedBias, unfolded };
}

/** Whether every |value| of `data` is at most `bound` (NaN is not). */
function withinBound(data: Float32Array, bound: number): boolean {
  for (let i = 0; i < data.length; i++) {
    if (!(Math.abs(data[i]!) <= bound)) return false;
  }
  return true;
}

/** The epilogue alone over a copy of x in `out`, image by image. */
function epilogueEach(x: Tensor, kernels: CpuKernels, epilogue: Epilogue, residual: Tensor | undefined, out: Tensor): Tensor {
  out.data.set(x.data);
  const [n, channels] = x.shape as [number, number];
  const perImage = x.data.length / n;
  const pixels = perImage / channels;
  for (let b = 0; b < n; b++) {
    const view = out.data.subarray(b * perImage, (b + 1) * perImage);
    kernels.epilogue(view, channels, pixels, { ...epilogue, residual: residual?.data.subarray(b * perImage, (b + 1) * perImage) });
  }
  return out;
}

export interface ConvParameters {
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
  paddingMode: PaddingMode;
  groups: number;
}

/**
 * Runs one conv on a batch with whichever kernel fits: depthwise, pointwise (GEMM) or general
 * (im2col + GEMM); reflect/replicate/circular padding is materialised first. Writes into
 * `output` when given (it must have the output's size), into a new tensor otherwise.
 */
export function convolve(kernels: CpuKernels, x: Tensor, conv: ConvParameters, weight: Float32Array, bias: Float32Array | undefined, activation: ActivationKind, residual?: Tensor, output?: Tensor): Tensor {
  const [n, inChannels, height, width] = x.shape as [number, number, number, number];
  const [top, bottom, left, right] = conv.pads;
  const [kh, kw] = conv.kernel;
  const outHeight = convOutputSize(height, kh, conv.stride[0], conv.dilation[0], top + bottom);
  const outWidth = convOutputSize(width, kw, conv.stride[1], conv.dilation[1], left + right);
  const materialise = conv.paddingMode !== 'zeros' && top + bottom + left + right > 0;
  const geometry: ConvGeometry = {
    inChannels, outChannels: conv.outChannels, groups: conv.groups,
    inHeight: materialise ? height + top + bottom : height,
    inWidth: materialise ? width + left + right : width,
    outHeight, outWidth,
    kernelHeight: kh, kernelWidth: kw,
    strideHeight: conv.stride[0], strideWidth: conv.stride[1],
    dilationHeight: conv.dilation[0], dilationWidth: conv.dilation[1],
    padTop: materialise ? 0 : top, padLeft: materialise ? 0 : left,
  };
  const inPerImage = inChannels * height * width;
  const outPerImage = conv.outChannels * outHeight * outWidth;
  const outShape = [n, conv.outChannels, outHeight, outWidth];
  if (output && (output.data.length !== n * outPerImage)) throw new Error(`internal: conv output buffer holds ${output.data.length} values, [${outShape}] needs ${n * outPerImage}`);
  const out = output ?? { shape: outShape, data: new Float32Array(n * outPerImage) };
  const pointwise = kh === 1 && kw === 1 && conv.groups === 1 && conv.stride[0] === 1 && conv.stride[1] === 1 && top + bottom + left + right === 0;
  const depthwise = conv.groups === inChannels && conv.groups > 1;
  // Views are made anew for every image: a kernel call may make older views of its memory stale.
  for (let b = 0; b < n; b++) {
    let image = x.data.subarray(b * inPerImage, (b + 1) * inPerImage);
    if (materialise) image = padPlanes(image, inChannels, height, width, conv.pads, conv.paddingMode as Exclude<PaddingMode, 'zeros'>);
    const outImage = out.data.subarray(b * outPerImage, (b + 1) * outPerImage);
    const epilogue: Epilogue = { bias, activation, residual: residual?.data.subarray(b * outPerImage, (b + 1) * outPerImage) };
    if (pointwise) kernels.pointwiseConv2d(image, weight, outImage, inChannels, conv.outChannels, height * width, epilogue);
    else if (depthwise) kernels.depthwiseConv2d(image, weight, outImage, geometry, epilogue);
    else kernels.conv2d(image, weight, outImage, geometry, epilogue);
  }
  return out;
}

/**
 * The step of a conv: with a BatchNorm folded in, the folded parameters where they give PyTorch's
 * result, checked per run unless `inputBound` (|input| at most this, known from the plan) settles it.
 */
function convRunner(node: ResolvedConv2d, parameters: ConvParameterSet, activation: ActivationKind, residual: () => Tensor | undefined, inputBound: number): Step['run'] {
  if (!node.pads) throw new Error(`internal: conv ${node.key} has no resolved padding`);
  const conv: ConvParameters = { ...node, pads: node.pads };
  const { weight, bias, unfolded } = parameters;
  if (!unfolded || unfolded.safeInput === Infinity || inputBound <= unfolded.safeInput) return (x, kernels, out) => convolve(kernels, x, conv, weight, bias, activation, residual(), out);
  return (x, kernels, out) => {
    const { safeInput } = unfolded;
    // One read of x.data: it may be a getter (see cpuBackend.ts).
    if (safeInput >= 0 && withinBound(x.data, safeInput)) return convolve(kernels, x, conv, weight, bias, activation, residual(), out);
    // As PyTorch: the conv's output rounded to float32, then the BatchNorm's scale and shift.
    convolve(kernels, x, conv, unfolded.weight, unfolded.bias, 'none', undefined, out);
    const [n, channels] = out.shape as [number, number];
    const perImage = out.data.length / n;
    const scaled = residual();
    for (let b = 0; b < n; b++) {
      const view = out.data.subarray(b * perImage, (b + 1) * perImage);
      kernels.epilogue(view, channels, perImage / channels, { scale: unfolded.scale, bias: unfolded.shift, activation, residual: scaled?.data.subarray(b * perImage, (b + 1) * perImage) });
    }
    return out;
  };
}
