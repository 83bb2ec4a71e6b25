/**
 * The CPU backend's compiled plan: the planner's steps (graph/planner.ts: fusion, labels, buffer
 * slots), each turned into a function that runs the CPU kernels. Made once per prepared model
 * and input shape (see cpuBackend.ts). A conv step with a folded BatchNorm runs with the folded
 * weights and bias, and its activation and Add become the kernel's epilogue, so a
 * DepthwiseSeparable block is two passes over memory: dw, then pw.
 *
 * Steps write into output buffers the executor hands them (buffers are reused from one step and
 * one run to the next, as the planner's slots say), so a step never allocates its output.
 */
import { convOutputSize, type PaddingMode, type ResolvedBatchNorm, type ResolvedConv2d, type ResolvedModel } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import { batchNormAffine } from '../batchNormAffine';
import { lowerModel, type Graph } from '../graph/graph';
import { planGraph, type Plan, type PlanStep } from '../graph/planner';
import type { WeightMap } from '../types';
import { activationKind, type ActivationKind } from '../activationKind';
import type { ConvGeometry, CpuKernels, Epilogue } from './kernels/cpuKernels';
import { padPlanes } from './kernels/pad';
import { adaptiveAvgPoolReference, broadcastReference, concatReference, softmaxReference, splitReference } from './reference';
import { cpuOpRunner, type Shape4 } from './ops/index';

/**
 * Computes a step: reads `inputs` (the step's reads: the node's inputs, then the addend) and
 * writes all of every tensor of `outputs` (buffers of the outputs' shapes, never one it reads).
 * A view step has no runner: its output is its input reshaped.
 */
export type StepRunner = (inputs: Tensor[], kernels: CpuKernels, outputs: Tensor[]) => void;

export interface CpuPlan {
  plan: Plan;
  /** One per plan step; undefined for a view. */
  runners: Array<StepRunner | undefined>;
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

/** Plans the model (the planner decides the steps) and compiles each step for the CPU. Weights must have been validated (see weights.ts). */
export function buildPlan(model: ResolvedModel, weights: WeightMap, options: PlanOptions): CpuPlan {
  const plan = planGraph(lowerModel(model), { fuse: options.fuse });
  const tensor = (key: string): Float32Array => {
    const found = weights[key];
    if (!found) throw new Error(`internal: weight ${key} missing after validation`);
    return found.data;
  };
  const bounds = inputBounds(plan);
  const runners = plan.steps.map((step) => (step.view ? undefined : compileStep(step, tensor, options, plan.graph, bounds[step.reads[0]!] ?? Infinity)));
  return { plan, runners };
}

/**
 * A bound on |value| of every value known from the plan, Infinity where none is: 6 for the output
 * of a step that ends with ReLU6 (no Add after it), the same as its source for a view. NaN passes
 * ReLU6; it gives NaN folded or not, so the bound serves its purpose (overflow) all the same.
 */
function inputBounds(plan: Plan): number[] {
  const bounds = new Array<number>(plan.graph.values.length).fill(Infinity);
  for (const step of plan.steps) {
    if (step.view) {
      bounds[step.outputs[0]!] = bounds[step.reads[0]!]!;
      continue;
    }
    const node = step.node.attrs;
    const relu6 =
      step.addend === undefined &&
      ((step.activation !== undefined && activationKind(step.activation.fn, step.activation.approximate) === 'relu6') ||
        (node.op === 'activation' && activationKind(node.fn, node.approximate) === 'relu6'));
    if (relu6) for (const out of step.outputs) bounds[out] = 6;
  }
  return bounds;
}

/** Compiles one step; `inputBound` bounds |value| of its first input where the plan knows one (see inputBounds). */
function compileStep(step: PlanStep, tensor: (key: string) => Float32Array, options: PlanOptions, graph: Graph, inputBound: number): StepRunner {
  const node = step.node.attrs;
  const activation: ActivationKind = step.activation ? activationKind(step.activation.fn, step.activation.approximate) : 'none';
  const negativeSlope = step.activation?.negativeSlope;
  const hasAddend = step.addend !== undefined;
  /** The addend is the last of a step's reads. */
  const addendOf = (inputs: Tensor[]) => (hasAddend ? inputs[inputs.length - 1] : undefined);
  switch (node.op) {
    case 'conv2d': {
      const parameters = options.folded?.get(node.key) ?? convParameters(node, tensor, step.foldedBatchNorm);
      options.folded?.set(node.key, parameters);
      if (!node.pads) throw new Error(`internal: conv ${node.key} has no resolved padding`);
      const conv: ConvParameters = { ...node, pads: node.pads };
      const run = convRunner(conv, parameters, activation, negativeSlope, inputBound);
      return (inputs, kernels, [out]) => run(inputs[0]!, kernels, addendOf(inputs), out!);
    }
    case 'batchnorm2d': {
      if (node.trackRunningStats) {
        const { scale, shift } = batchNormAffine32(node, tensor, tensor(`${node.key}.running_mean`), tensor(`${node.key}.running_var`));
        return (inputs, kernels, [out]) => epilogueEach(inputs[0]!, kernels, { scale, bias: shift, activation, negativeSlope }, addendOf(inputs), out!);
      }
      return (inputs, kernels, [out]) => {
        const { mean, variance } = batchStatistics(inputs[0]!);
        const { scale, shift } = batchNormAffine32(node, tensor, mean, variance, 'float64');
        epilogueEach(inputs[0]!, kernels, { scale, bias: shift, activation, negativeSlope }, addendOf(inputs), out!);
      };
    }
    case 'activation': {
      const kind = activationKind(node.fn, node.approximate);
      return (inputs, kernels, [out]) => epilogueEach(inputs[0]!, kernels, { activation: kind, negativeSlope: node.negativeSlope }, addendOf(inputs), out!);
    }
    case 'add':
      return (inputs, kernels, [out]) => {
        const [a, b] = inputs as [Tensor, Tensor];
        // The same shape: the kernels' epilogue adds; a broadcast goes through the plain loop.
        if (a.data.length === out!.data.length && b.data.length === out!.data.length) epilogueEach(a, kernels, { activation: 'none' }, b, out!);
        else broadcastReference({ shape: a.shape, data: a.data }, { shape: b.shape, data: b.data }, 'add', out!.data);
      };
    case 'mul':
      return (inputs, _kernels, [out]) => {
        broadcastReference({ shape: inputs[0]!.shape, data: inputs[0]!.data }, { shape: inputs[1]!.shape, data: inputs[1]!.data }, 'mul', out!.data);
      };
    case 'concat':
      // One read of each data getter: it may make a view anew (see cpuBackend.ts).
      return (inputs, _kernels, [out]) => {
        concatReference(
          inputs.map((t) => ({ shape: t.shape, data: t.data })),
          node.dim,
          out!.data,
        );
      };
    case 'split': {
      const sections = node.sections!;
      return (inputs, _kernels, outs) => {
        splitReference(
          { shape: inputs[0]!.shape, data: inputs[0]!.data },
          sections,
          node.dim,
          outs.map((t) => t.data),
        );
      };
    }
    case 'softmax':
      return (inputs, _kernels, [out]) => {
        softmaxReference({ shape: inputs[0]!.shape, data: inputs[0]!.data }, node.dim, out!.data);
      };
    case 'dropout':
    case 'flatten':
      // Copied when the planner did not make it a view (it always does on the CPU).
      return (inputs, _kernels, [out]) => out!.data.set(inputs[0]!.data);
    case 'adaptiveavgpool2d':
      return (inputs, _kernels, [out]) => {
        const x = inputs[0]!;
        out!.data.set(adaptiveAvgPoolReference({ shape: x.shape, data: x.data }, node.outputSize).data);
      };
    case 'linear': {
      const weight = tensor(`${node.key}.weight`);
      const bias = node.bias ? tensor(`${node.key}.bias`) : undefined;
      return (inputs, kernels, [out]) => {
        linear(kernels, inputs[0]!, weight, bias, node.inFeatures, node.outFeatures, out!);
      };
    }
    case 'maxpool2d':
    case 'avgpool2d':
    case 'convtranspose2d':
    case 'upsample':
    case 'channelshuffle': {
      const shape = (value: number) => graph.values[value]!.shape as Shape4;
      const run = cpuOpRunner(node, shape(step.reads[0]!), shape(step.node.outputs[0]!), tensor, { activation, negativeSlope });
      // One read of each data getter: it may make a view anew (see cpuBackend.ts).
      return (inputs, _kernels, [out]) => run(inputs[0]!.data, out!.data, addendOf(inputs)?.data);
    }
  }
}

/**
 * The same values under another shape. `data` is read through: an activation buffer's view is
 * made anew on every read (see cpuBackend.ts), and a reshape must not pin an old one.
 */
export function reshaped(x: Tensor, shape: readonly number[]): Tensor {
  return {
    shape: [...shape],
    get data() {
      return x.data;
    },
  };
}

/**
 * A Linear layer row by row as a pointwise conv of one pixel: out[o] = bias[o] + sum_i weight[o][i] * x[i].
 * `x.data` and `out.data` are read again for every row: a kernel call may make older views stale.
 */
function linear(
  kernels: CpuKernels,
  x: Tensor,
  weight: Float32Array,
  bias: Float32Array | undefined,
  inFeatures: number,
  outFeatures: number,
  out: Tensor,
): Tensor {
  const rows = x.data.length / inFeatures;
  for (let r = 0; r < rows; r++) {
    kernels.pointwiseConv2d(
      x.data.subarray(r * inFeatures, (r + 1) * inFeatures),
      weight,
      out.data.subarray(r * outFeatures, (r + 1) * outFeatures),
      inFeatures,
      outFeatures,
      1,
      { bias, activation: 'none' },
    );
  }
  return out;
}

/**
 * The per-channel scale and shift of an inference BatchNorm, as float32: "float32" for running
 * statistics, "float64" for a batch's own, as PyTorch computes them (see batchNormAffine).
 */
function batchNormAffine32(
  node: ResolvedBatchNorm,
  tensor: (key: string) => Float32Array,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  precision: 'float32' | 'float64' = 'float32',
): { scale: Float32Array; shift: Float32Array } {
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
    if (!Number.isFinite(foldedBias[o]!) || !Number.isFinite(s) || !Number.isFinite(shift[o]!)) foldable = false;
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

/**
 * The step of a conv: with a BatchNorm folded in, the folded parameters where they give PyTorch's
 * result, checked per run unless `inputBound` (|input| at most this, known from the plan) settles
 * it; otherwise the conv's output rounded to float32, then the BatchNorm's scale and shift, as PyTorch.
 */
function convRunner(
  conv: ConvParameters,
  parameters: ConvParameterSet,
  activation: ActivationKind,
  negativeSlope: number | undefined,
  inputBound: number,
): (x: Tensor, kernels: CpuKernels, addend: Tensor | undefined, out: Tensor) => void {
  const { weight, bias, unfolded } = parameters;
  const folded = (x: Tensor, kernels: CpuKernels, addend: Tensor | undefined, out: Tensor) => {
    convolve(kernels, x, conv, weight, bias, activation, addend, out, negativeSlope);
  };
  if (!unfolded || unfolded.safeInput === Infinity || inputBound <= unfolded.safeInput) return folded;
  return (x, kernels, addend, out) => {
    const { safeInput } = unfolded;
    // One read of x.data: it may be a getter (see cpuBackend.ts).
    if (safeInput >= 0 && withinBound(x.data, safeInput)) return folded(x, kernels, addend, out);
    convolve(kernels, x, conv, unfolded.weight, unfolded.bias, 'none', undefined, out);
    const [n, channels] = out.shape as [number, number];
    const perImage = out.data.length / n;
    for (let b = 0; b < n; b++) {
      const view = out.data.subarray(b * perImage, (b + 1) * perImage);
      kernels.epilogue(view, channels, perImage / channels, {
        scale: unfolded.scale,
        bias: unfolded.shift,
        activation,
        negativeSlope,
        residual: addend?.data.subarray(b * perImage, (b + 1) * perImage),
      });
    }
  };
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
export function convolve(
  kernels: CpuKernels,
  x: Tensor,
  conv: ConvParameters,
  weight: Float32Array,
  bias: Float32Array | undefined,
  activation: ActivationKind,
  residual?: Tensor,
  output?: Tensor,
  negativeSlope?: number,
): Tensor {
  const [n, inChannels, height, width] = x.shape as [number, number, number, number];
  const [top, bottom, left, right] = conv.pads;
  const [kh, kw] = conv.kernel;
  const outHeight = convOutputSize(height, kh, conv.stride[0], conv.dilation[0], top + bottom);
  const outWidth = convOutputSize(width, kw, conv.stride[1], conv.dilation[1], left + right);
  const materialise = conv.paddingMode !== 'zeros' && top + bottom + left + right > 0;
  const geometry: ConvGeometry = {
    inChannels,
    outChannels: conv.outChannels,
    groups: conv.groups,
    inHeight: materialise ? height + top + bottom : height,
    inWidth: materialise ? width + left + right : width,
    outHeight,
    outWidth,
    kernelHeight: kh,
    kernelWidth: kw,
    strideHeight: conv.stride[0],
    strideWidth: conv.stride[1],
    dilationHeight: conv.dilation[0],
    dilationWidth: conv.dilation[1],
    padTop: materialise ? 0 : top,
    padLeft: materialise ? 0 : left,
  };
  const inPerImage = inChannels * height * width;
  const outPerImage = conv.outChannels * outHeight * outWidth;
  const outShape = [n, conv.outChannels, outHeight, outWidth];
  if (output && output.data.length !== n * outPerImage)
    throw new Error(`internal: conv output buffer holds ${output.data.length} values, [${outShape}] needs ${n * outPerImage}`);
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
