/**
 * The CPU plan: a resolved model turned into a list of steps, made once per forward call.
 * With fusion on (the default) a conv directly followed by BatchNorm (running stats) has the BN
 * folded into its weights and bias, and the activation and a residual add that follow become
 * its epilogue, so a DepthwiseSeparable block is two passes over memory: dw, then pw.
 */
import { describeConv, type LeafInfo, type PaddingMode, type ResolvedBatchNorm, type ResolvedConv2d, type ResolvedLeaf, type ResolvedModel, type ResolvedNode } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
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
  run(input: Tensor, kernels: CpuKernels): Tensor;
}

type Item =
  | { kind: 'leaf'; info: LeafInfo }
  | { kind: 'begin'; slot: SkipSlot }
  | { kind: 'end'; slot: SkipSlot; key: string; layerIndex: number };

export interface PlanOptions {
  fuse: boolean;
}

/** Builds the steps. Weights must have been validated (see weights.ts). */
export function buildPlan(model: ResolvedModel, weights: WeightMap, options: PlanOptions): Step[] {
  const infoByNode = new Map<ResolvedNode, LeafInfo>(model.leaves.map((leaf) => [leaf.node, leaf]));
  const items: Item[] = [];
  const flatten = (node: ResolvedNode, layerIndex: number): void => {
    if (node.op === 'sequence') node.children.forEach((child) => flatten(child, layerIndex));
    else if (node.op === 'residual') {
      const slot: SkipSlot = {};
      items.push({ kind: 'begin', slot });
      flatten(node.body, layerIndex);
      items.push({ kind: 'end', slot, key: node.key, layerIndex });
    } else {
      const info = infoByNode.get(node);
      if (!info) throw new Error(`internal: leaf ${node.key} has no shape information`);
      items.push({ kind: 'leaf', info });
    }
  };
  for (const layer of model.layers) flatten(layer.node, layer.index);

  const tensor = (key: string): Float32Array => {
    const found = weights[key];
    if (!found) throw new Error(`internal: weight ${key} missing after validation`);
    return found.data;
  };
  const steps: Step[] = [];
  let saves: SkipSlot[] = [];
  const push = (step: Omit<Step, 'saveInputTo'>) => {
    steps.push({ ...step, saveInputTo: saves });
    saves = [];
  };
  const leafAt = (i: number): LeafInfo | undefined => {
    const item = items[i];
    return item?.kind === 'leaf' ? item.info : undefined;
  };

  for (let i = 0; i < items.length; ) {
    const item = items[i]!;
    if (item.kind === 'begin') {
      saves.push(item.slot);
      i++;
      continue;
    }
    if (item.kind === 'end') {
      push(addStep(item));
      i++;
      continue;
    }
    const { info } = item;
    const node = info.node;
    const covered: LeafInfo[] = [info];
    i++;
    // What can follow a conv or a BN into one epilogue: [BN (conv only)] [activation] [residual end].
    let folded: ResolvedBatchNorm | undefined;
    let activation: ActivationKind = 'none';
    let activationLabel: string | undefined;
    let end: Extract<Item, { kind: 'end' }> | undefined;
    if (options.fuse && (node.op === 'conv2d' || node.op === 'batchnorm2d' || node.op === 'activation')) {
      const next = leafAt(i)?.node;
      if (node.op === 'conv2d' && next?.op === 'batchnorm2d' && next.trackRunningStats) {
        folded = next;
        covered.push(leafAt(i)!);
        i++;
      }
      const after = leafAt(i)?.node;
      if (node.op !== 'activation' && after?.op === 'activation') {
        activation = activationKind(after.fn, after.approximate);
        activationLabel = activationName(after.fn, after.approximate);
        covered.push(leafAt(i)!);
        i++;
      }
      const maybeEnd = items[i];
      if (maybeEnd?.kind === 'end') {
        end = maybeEnd;
        i++;
      }
    }
    const suffix = `${folded ? ' + BatchNorm2d (folded)' : ''}${activationLabel ? ` + ${activationLabel}` : ''}${end ? ' + skip add' : ''}`;
    const base = {
      // A step that did the skip add outputs the residual block's value: it takes the block's key.
      key: end ? end.key : covered[covered.length - 1]!.node.key,
      leafKeys: covered.map((leaf) => leaf.node.key),
      layerIndex: info.layerIndex,
      role: info.role,
      release: end ? [end.slot] : [],
    };
    const residualOf = (slot: SkipSlot | undefined) => (slot ? () => slot.tensor : () => undefined);
    switch (node.op) {
      case 'conv2d': {
        const { weight, bias } = convParameters(node, tensor, folded);
        push({ ...base, label: leafLabel(node) + suffix, run: convRunner(node, info.outShape, weight, bias, activation, residualOf(end?.slot)) });
        break;
      }
      case 'batchnorm2d': {
        const getResidual = residualOf(end?.slot);
        const label = leafLabel(node) + suffix;
        if (node.trackRunningStats) {
          const { scale, shift } = batchNormAffine(node, tensor, tensor(`${node.key}.running_mean`), tensor(`${node.key}.running_var`));
          push({ ...base, label, run: (x, kernels) => epilogueEach(x, kernels, { scale, bias: shift, activation }, getResidual()) });
        } else {
          push({ ...base, label, run: (x, kernels) => {
            const { mean, variance } = batchStatistics(x);
            const { scale, shift } = batchNormAffine(node, tensor, mean, variance);
            return epilogueEach(x, kernels, { scale, bias: shift, activation }, getResidual());
          } });
        }
        break;
      }
      case 'activation': {
        const kind = activationKind(node.fn, node.approximate);
        const getResidual = residualOf(end?.slot);
        push({ ...base, label: leafLabel(node) + suffix, run: (x, kernels) => epilogueEach(x, kernels, { activation: kind }, getResidual()) });
        break;
      }
      case 'dropout':
        push({ ...base, label: leafLabel(node), run: (x) => ({ shape: [...x.shape], data: x.data }) });
        break;
      case 'flatten':
        push({ ...base, label: leafLabel(node), run: (x) => ({ shape: [...info.outShape], data: x.data }) });
        break;
      case 'adaptiveavgpool2d':
        push({ ...base, label: leafLabel(node), run: (x) => adaptiveAvgPoolReference(x, node.outputSize) });
        break;
      case 'linear': {
        const weight = weights[`${node.key}.weight`]!;
        const bias = node.bias ? weights[`${node.key}.bias`] : undefined;
        push({ ...base, label: leafLabel(node), run: (x, kernels) => linear(kernels, x, weight.data, bias?.data, node.inFeatures, node.outFeatures) });
        break;
      }
    }
  }
  return steps;
}

/** A Linear layer row by row as a pointwise conv of one pixel: out[o] = bias[o] + sum_i weight[o][i] * x[i]. */
function linear(kernels: CpuKernels, x: Tensor, weight: Float32Array, bias: Float32Array | undefined, inFeatures: number, outFeatures: number): Tensor {
  const rows = x.data.length / inFeatures;
  const out = new Float32Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    kernels.pointwiseConv2d(x.data.subarray(r * inFeatures, (r + 1) * inFeatures), weight, out.subarray(r * outFeatures, (r + 1) * outFeatures), inFeatures, outFeatures, 1, { bias, activation: 'none' });
  }
  return { shape: [...x.shape.slice(0, -1), outFeatures], data: out };
}

/** What a leaf module does, for people: "Conv2d 3x3 depthwise stride 2", "BatchNorm2d", "GELU (tanh)", ... */
export function leafLabel(node: ResolvedLeaf): string {
  switch (node.op) {
    case 'conv2d': return convLabel(node);
    case 'batchnorm2d': return `BatchNorm2d${node.trackRunningStats ? '' : ' (batch statistics)'}`;
    case 'activation': return activationName(node.fn, node.approximate);
    case 'dropout': return 'Dropout (identity at inference)';
    case 'flatten': return 'Flatten';
    case 'adaptiveavgpool2d': return `AdaptiveAvgPool2d to ${node.outputSize[0]}x${node.outputSize[1]}`;
    case 'linear': return `Linear ${node.inFeatures} -> ${node.outFeatures}`;
  }
}

function activationName(fn: string, approximate: 'none' | 'tanh'): string {
  return fn === 'GELU' && approximate === 'tanh' ? 'GELU (tanh)' : fn;
}

function convLabel(node: ResolvedConv2d): string {
  const [sh, sw] = node.stride;
  const stride = sh > 1 || sw > 1 ? ` stride ${sh === sw ? sh : `${sh}x${sw}`}` : '';
  const dilation = node.dilation[0] > 1 || node.dilation[1] > 1 ? ` dilation ${node.dilation.join('x')}` : '';
  return `Conv2d ${node.kernel[0]}x${node.kernel[1]} ${describeConv(node)}${stride}${dilation}`;
}

function addStep(end: Extract<Item, { kind: 'end' }>): Omit<Step, 'saveInputTo'> {
  return {
    key: end.key,
    leafKeys: [],
    label: 'skip add (residual)',
    layerIndex: end.layerIndex,
    role: 'add',
    release: [end.slot],
    run: (x, kernels) => epilogueEach(x, kernels, { activation: 'none' }, end.slot.tensor),
  };
}

/** The per-channel scale and shift of an inference BatchNorm, computed in float64. */
function batchNormAffine(node: ResolvedBatchNorm, tensor: (key: string) => Float32Array, mean: ArrayLike<number>, variance: ArrayLike<number>): { scale: Float32Array; shift: Float32Array } {
  const gamma = node.affine ? tensor(`${node.key}.weight`) : undefined;
  const beta = node.affine ? tensor(`${node.key}.bias`) : undefined;
  const scale = new Float32Array(node.numFeatures);
  const shift = new Float32Array(node.numFeatures);
  for (let c = 0; c < node.numFeatures; c++) {
    const s = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + node.eps);
    scale[c] = s;
    shift[c] = (beta ? beta[c]! : 0) - mean[c]! * s;
  }
  return { scale, shift };
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
  const { scale, shift } = batchNormAffine(bn, tensor, tensor(`${bn.key}.running_mean`), tensor(`${bn.key}.running_var`));
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

/** The epilogue alone over a copy of x, image by image. */
function epilogueEach(x: Tensor, kernels: CpuKernels, epilogue: Epilogue, residual: Tensor | undefined): Tensor {
  const data = x.data.slice();
  const [n, channels] = x.shape as [number, number];
  const perImage = data.length / n;
  const pixels = perImage / channels;
  for (let b = 0; b < n; b++) {
    const view = data.subarray(b * perImage, (b + 1) * perImage);
    kernels.epilogue(view, channels, pixels, { ...epilogue, residual: residual?.data.subarray(b * perImage, (b + 1) * perImage) });
  }
  return { shape: [...x.shape], data };
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
 * (im2col + GEMM); reflect/replicate/circular padding is materialised first.
 */
export function convolve(kernels: CpuKernels, x: Tensor, conv: ConvParameters, weight: Float32Array, bias: Float32Array | undefined, activation: ActivationKind, residual?: Tensor): Tensor {
  const [n, inChannels, height, width] = x.shape as [number, number, number, number];
  const [top, bottom, left, right] = conv.pads;
  const [kh, kw] = conv.kernel;
  const outHeight = Math.floor((height + top + bottom - conv.dilation[0] * (kh - 1) - 1) / conv.stride[0]) + 1;
  const outWidth = Math.floor((width + left + right - conv.dilation[1] * (kw - 1) - 1) / conv.stride[1]) + 1;
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
  const out = new Float32Array(n * outPerImage);
  const pointwise = kh === 1 && kw === 1 && conv.groups === 1 && conv.stride[0] === 1 && conv.stride[1] === 1 && top + bottom + left + right === 0;
  const depthwise = conv.groups === inChannels && conv.groups > 1;
  for (let b = 0; b < n; b++) {
    let image = x.data.subarray(b * inPerImage, (b + 1) * inPerImage);
    if (materialise) image = padPlanes(image, inChannels, height, width, conv.pads, conv.paddingMode as Exclude<PaddingMode, 'zeros'>);
    const output = out.subarray(b * outPerImage, (b + 1) * outPerImage);
    const epilogue: Epilogue = { bias, activation, residual: residual?.data.subarray(b * outPerImage, (b + 1) * outPerImage) };
    if (pointwise) kernels.pointwiseConv2d(image, weight, output, inChannels, conv.outChannels, height * width, epilogue);
    else if (depthwise) kernels.depthwiseConv2d(image, weight, output, geometry, epilogue);
    else kernels.conv2d(image, weight, output, geometry, epilogue);
  }
  return { shape: [n, conv.outChannels, outHeight, outWidth], data: out };
}

function convRunner(node: ResolvedConv2d, outShape: number[], weight: Float32Array, bias: Float32Array | undefined, activation: ActivationKind, residual: () => Tensor | undefined): Step['run'] {
  if (!node.pads) throw new Error(`internal: conv ${node.key} has no resolved padding`);
  const conv: ConvParameters = { ...node, pads: node.pads };
  return (x, kernels) => {
    const y = convolve(kernels, x, conv, weight, bias, activation, residual());
    if (y.shape.some((d, i) => d !== outShape[i])) throw new Error(`internal: conv ${node.key} produced [${y.shape}] but shape inference said [${outShape}]`);
    return y;
  };
}
