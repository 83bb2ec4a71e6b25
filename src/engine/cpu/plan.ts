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
import { convOutputSize, type LeafInfo, type PaddingMode, type ResolvedBatchNorm, type ResolvedConv2d, type ResolvedModel, type ResolvedNode } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import { batchNormAffine } from '../batchNormAffine';
import { groupSteps, type SkipBlock } from '../stepLabels';
import { upsampleAxisTable } from '../upsampleCoordinates';
import type { Intermediate, WeightMap } from '../types';
import { activationKind, type ActivationKind } from './activation';
import type { ConvGeometry, CpuKernels, Epilogue } from './kernels/cpuKernels';
import { padPlanes } from './kernels/pad';
import { adaptiveAvgPoolReference } from './reference';
import { channelScale } from './ops/channelScale';
import { channelShuffle } from './ops/channelShuffle';
import { convTranspose2d } from './ops/convTranspose2d';
import { avgPool2d, maxPool2d } from './ops/pool2d';
import { upsample2d } from './ops/upsample2d';

type Shape4 = [number, number, number, number];

/** Remembers a residual (or squeeze-excitation) block's input until its add (or product). */
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

export type ConvParametersCache = Map<string, { weight: Float32Array; bias?: Float32Array }>;

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
  const slots = new Map<SkipBlock, SkipSlot>();
  const slotOf = (residual: SkipBlock): SkipSlot => {
    let slot = slots.get(residual);
    if (!slot) slots.set(residual, (slot = {}));
    return slot;
  };
  const steps: Step[] = [];
  const infoOf = new Map<ResolvedNode, LeafInfo>(model.leaves.map((leaf) => [leaf.node, leaf]));
  for (const group of groupSteps(model, { fuse: options.fuse })) {
    if (group.channelScale) {
      const slot = slotOf(group.channelScale);
      // The block's input shape: what the first leaf of its body reads.
      let first: ResolvedNode = group.channelScale.body;
      while (first.op === 'sequence' || first.op === 'residual' || first.op === 'channelscale') first = first.op === 'sequence' ? first.children[0]! : first.body;
      const outShape = [...infoOf.get(first)!.inShape];
      steps.push({
        ...group.outline, saveInputTo: group.opens.map(slotOf), release: [slot], aliasesInput: false, outShape,
        run: (x, _kernels, out) => {
          // One read of each `data`: they may be getters (see cpuBackend.ts).
          channelScale(slot.tensor!.data, outShape as Shape4, x.data, out.data);
          return out;
        },
      });
      continue;
    }
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
      continue;
    }
    const node = first.node;
    const outShape = [...group.leaves[group.leaves.length - 1]!.outShape];
    const activation: ActivationKind = group.activation ? activationKind(group.activation.fn, group.activation.approximate) : 'none';
    const negativeSlope = group.activation?.negativeSlope;
    const getResidual = end ? () => end.tensor : () => undefined;
    const push = (run: Step['run'], aliasesInput = false) => steps.push({ ...base, outShape, aliasesInput, run });
    switch (node.op) {
      case 'conv2d': {
        const parameters = options.folded?.get(node.key) ?? convParameters(node, tensor, group.foldedBatchNorm);
        options.folded?.set(node.key, parameters);
        push(convRunner(node, parameters.weight, parameters.bias, activation, getResidual, negativeSlope));
        break;
      }
      case 'batchnorm2d': {
        if (node.trackRunningStats) {
          const { scale, shift } = batchNormAffine32(node, tensor, tensor(`${node.key}.running_mean`), tensor(`${node.key}.running_var`));
          push((x, kernels, out) => epilogueEach(x, kernels, { scale, bias: shift, activation, negativeSlope }, getResidual(), out));
        } else {
          push((x, kernels, out) => {
            const { mean, variance } = batchStatistics(x);
            const { scale, shift } = batchNormAffine32(node, tensor, mean, variance);
            return epilogueEach(x, kernels, { scale, bias: shift, activation, negativeSlope }, getResidual(), out);
          });
        }
        break;
      }
      case 'activation': {
        const kind = activationKind(node.fn, node.approximate);
        push((x, kernels, out) => epilogueEach(x, kernels, { activation: kind, negativeSlope: node.negativeSlope }, getResidual(), out));
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
      case 'maxpool2d':
      case 'avgpool2d': {
        const pool = node.op === 'maxpool2d' ? maxPool2d : avgPool2d;
        push((x, _kernels, out) => {
          pool(x.data, x.shape as Shape4, out.data, outShape as Shape4, node);
          return out;
        });
        break;
      }
      case 'convtranspose2d': {
        const weight = tensor(`${node.key}.weight`);
        const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
        push((x, _kernels, out) => {
          convTranspose2d(x.data, x.shape as Shape4, weight, out.data, outShape as Shape4, node, { bias, activation, negativeSlope, residual: getResidual()?.data });
          return out;
        });
        break;
      }
      case 'upsample': {
        const [, , h, w] = first.inShape as Shape4;
        const rows = upsampleAxisTable(node, 0, h, outShape[2]!);
        const columns = upsampleAxisTable(node, 1, w, outShape[3]!);
        push((x, _kernels, out) => {
          upsample2d(x.data, x.shape as Shape4, out.data, outShape as Shape4, rows, columns);
          return out;
        });
        break;
      }
      case 'channelshuffle':
        push((x, _kernels, out) => {
          channelShuffle(x.data, x.shape as Shape4, out.data, node.groups);
          return out;
        });
        break;
    }
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

/** The per-channel scale and shift of an inference BatchNorm: computed in float64, kept as float32. */
function batchNormAffine32(node: ResolvedBatchNorm, tensor: (key: string) => Float32Array, mean: ArrayLike<number>, variance: ArrayLike<number>): { scale: Float32Array; shift: Float32Array } {
  const gamma = node.affine ? tensor(`${node.key}.weight`) : undefined;
  const beta = node.affine ? tensor(`${node.key}.bias`) : undefined;
  const { scale, shift } = batchNormAffine(node, mean, variance, gamma, beta);
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

/** A conv's weight and bias with a following BN folded in: w * g / sqrt(v + eps), (b - m) * g / sqrt(v + eps) + beta. */
function convParameters(node: ResolvedConv2d, tensor: (key: string) => Float32Array, bn: ResolvedBatchNorm | undefined): { weight: Float32Array; bias?: Float32Array } {
  const weight = tensor(`${node.key}.weight`);
  const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
  if (!bn) return { weight, bias };
  const { scale, shift } = batchNormAffine32(bn, tensor, tensor(`${bn.key}.running_mean`), tensor(`${bn.key}.running_var`));
  const perChannel = weight.length / node.outChannels;
  const foldedWeight = new Float32Array(weight.length);
  const foldedBias = new Float32Array(node.outChannels);
  for (let o = 0; o < node.outChannels; o++) {
    const s = scale[o]!;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) foldedWeight[i] = weight[i]! * s;
    foldedBias[o] = (bias ? bias[o]! : 0) * s + shift[o]!;
  }
  return { weight: foldedWeight, bias: foldedBias };
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
export function convolve(kernels: CpuKernels, x: Tensor, conv: ConvParameters, weight: Float32Array, bias: Float32Array | undefined, activation: ActivationKind, residual?: Tensor, output?: Tensor, negativeSlope?: number): Tensor {
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
    const epilogue: Epilogue = { bias, activation, negativeSlope, residual: residual?.data.subarray(b * outPerImage, (b + 1) * outPerImage) };
    if (pointwise) kernels.pointwiseConv2d(image, weight, outImage, inChannels, conv.outChannels, height * width, epilogue);
    else if (depthwise) kernels.depthwiseConv2d(image, weight, outImage, geometry, epilogue);
    else kernels.conv2d(image, weight, outImage, geometry, epilogue);
  }
  return out;
}

function convRunner(node: ResolvedConv2d, weight: Float32Array, bias: Float32Array | undefined, activation: ActivationKind, residual: () => Tensor | undefined, negativeSlope?: number): Step['run'] {
  if (!node.pads) throw new Error(`internal: conv ${node.key} has no resolved padding`);
  const conv: ConvParameters = { ...node, pads: node.pads };
  return (x, kernels, out) => convolve(kernels, x, conv, weight, bias, activation, residual(), out, negativeSlope);
}
