/**
 * The reference: plain, direct loops that say what each module computes, written for reading,
 * not for speed. The fast kernels are tested against these, and these against PyTorch.
 * Accumulates in float64 (JS numbers) and rounds once when storing.
 */
import {
  convOutputSize, convTransposeOutputSize, poolOutputSize, upsampleOutputSize,
  type PaddingMode, type ResolvedChannelShuffle, type ResolvedConvTranspose2d, type ResolvedModel, type ResolvedNode, type ResolvedPool2d, type ResolvedUpsample,
} from '../../shared/spec';
import { upsampleAxisTable } from '../upsampleCoordinates';
import { channelScale } from './ops/channelScale';
import { channelShuffle } from './ops/channelShuffle';
import { convTranspose2d } from './ops/convTranspose2d';
import { avgPool2d, maxPool2d } from './ops/pool2d';
import { upsample2d } from './ops/upsample2d';

type Shape4 = [number, number, number, number];
import { elementCount, type Tensor } from '../../shared/tensor';
import { activateScalar, activationKind, type ActivationKind } from './activation';

export interface ReferenceConvOptions {
  stride: [number, number];
  dilation: [number, number];
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
  paddingMode: PaddingMode;
  groups: number;
}

/**
 * Where padded coordinate `i` (in [-before, size + after)) reads from, as `torch.nn.functional.pad`
 * defines each mode; -1 for a zero. reflect mirrors without repeating the edge, replicate
 * clamps, circular wraps.
 */
export function sourceIndex(i: number, size: number, mode: PaddingMode): number {
  if (i >= 0 && i < size) return i;
  switch (mode) {
    case 'zeros': return -1;
    case 'reflect': return i < 0 ? -i : 2 * (size - 1) - i;
    case 'replicate': return i < 0 ? 0 : size - 1;
    case 'circular': return ((i % size) + size) % size;
  }
}

/** torch.nn.functional.conv2d with PyTorch's padding modes: out[n, o, y, x] = bias[o] + sum w * in. */
export function conv2dReference(input: Tensor, weight: Tensor, bias: Tensor | undefined, options: ReferenceConvOptions): Tensor {
  const [n, inChannels, height, width] = input.shape as [number, number, number, number];
  const [outChannels, groupChannels, kh, kw] = weight.shape as [number, number, number, number];
  const { stride, dilation, pads, paddingMode, groups } = options;
  const outHeight = convOutputSize(height, kh, stride[0], dilation[0], pads[0] + pads[1]);
  const outWidth = convOutputSize(width, kw, stride[1], dilation[1], pads[2] + pads[3]);
  const outPerGroup = outChannels / groups;
  if (groupChannels * groups !== inChannels) throw new Error(`conv2dReference: weight ${weight.shape} does not fit ${inChannels} input channels in ${groups} groups`);
  const out = new Float32Array(n * outChannels * outHeight * outWidth);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outChannels; o++) {
      const group = Math.floor(o / outPerGroup);
      for (let y = 0; y < outHeight; y++) {
        for (let x = 0; x < outWidth; x++) {
          let sum = bias ? bias.data[o]! : 0;
          for (let c = 0; c < groupChannels; c++) {
            const ic = group * groupChannels + c;
            for (let ky = 0; ky < kh; ky++) {
              const iy = sourceIndex(y * stride[0] - pads[0] + ky * dilation[0], height, paddingMode);
              if (iy < 0) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = sourceIndex(x * stride[1] - pads[2] + kx * dilation[1], width, paddingMode);
                if (ix < 0) continue;
                sum += weight.data[((o * groupChannels + c) * kh + ky) * kw + kx]! * input.data[((b * inChannels + ic) * height + iy) * width + ix]!;
              }
            }
          }
          out[((b * outChannels + o) * outHeight + y) * outWidth + x] = sum;
        }
      }
    }
  }
  return { shape: [n, outChannels, outHeight, outWidth], data: out };
}

export interface ReferenceBatchNorm {
  weight?: Tensor;
  bias?: Tensor;
  /** Without running stats (track_running_stats=False) PyTorch normalises with the batch's own statistics, also in eval mode. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  eps: number;
}

/** BatchNorm2d in eval mode: (x - mean) / sqrt(var + eps) * weight + bias. */
export function batchNormReference(input: Tensor, bn: ReferenceBatchNorm): Tensor {
  const [n, channels, height, width] = input.shape as [number, number, number, number];
  const plane = height * width;
  const out = new Float32Array(input.data.length);
  for (let c = 0; c < channels; c++) {
    let mean: number;
    let variance: number;
    if (bn.runningMean && bn.runningVar) {
      mean = bn.runningMean.data[c]!;
      variance = bn.runningVar.data[c]!;
    } else {
      // Batch statistics over N, H, W; the biased variance, as PyTorch normalises with.
      let sum = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < plane; i++) sum += input.data[(b * channels + c) * plane + i]!;
      mean = sum / (n * plane);
      let squares = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < plane; i++) squares += (input.data[(b * channels + c) * plane + i]! - mean) ** 2;
      variance = squares / (n * plane);
    }
    const gamma = bn.weight ? bn.weight.data[c]! : 1;
    const beta = bn.bias ? bn.bias.data[c]! : 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < plane; i++) {
        const at = (b * channels + c) * plane + i;
        out[at] = ((input.data[at]! - mean) / Math.sqrt(variance + bn.eps)) * gamma + beta;
      }
    }
  }
  return { shape: [...input.shape], data: out };
}

export function activationReference(input: Tensor, kind: ActivationKind, negativeSlope?: number): Tensor {
  return { shape: [...input.shape], data: input.data.map((v) => activateScalar(kind, v, negativeSlope)) };
}

/** AdaptiveAvgPool2d: output cell i averages input rows floor(i*H/out) .. ceil((i+1)*H/out) - 1, as PyTorch does. */
export function adaptiveAvgPoolReference(input: Tensor, outputSize: [number, number]): Tensor {
  const [n, channels, height, width] = input.shape as [number, number, number, number];
  const [oh, ow] = outputSize;
  const out = new Float32Array(n * channels * oh * ow);
  for (let p = 0; p < n * channels; p++) {
    for (let y = 0; y < oh; y++) {
      const y0 = Math.floor((y * height) / oh);
      const y1 = Math.ceil(((y + 1) * height) / oh);
      for (let x = 0; x < ow; x++) {
        const x0 = Math.floor((x * width) / ow);
        const x1 = Math.ceil(((x + 1) * width) / ow);
        let sum = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += input.data[(p * height + iy) * width + ix]!;
        out[(p * oh + y) * ow + x] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return { shape: [n, channels, oh, ow], data: out };
}

/** Linear over the last dimension: y = x W^T + b. */
export function linearReference(input: Tensor, weight: Tensor, bias: Tensor | undefined): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  const rows = input.data.length / inFeatures;
  const out = new Float32Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = bias ? bias.data[o]! : 0;
      for (let i = 0; i < inFeatures; i++) sum += input.data[r * inFeatures + i]! * weight.data[o * inFeatures + i]!;
      out[r * outFeatures + o] = sum;
    }
  }
  return { shape: [...input.shape.slice(0, -1), outFeatures], data: out };
}

export function flattenReference(input: Tensor, startDim: number, endDim: number): Tensor {
  const rank = input.shape.length;
  const start = startDim < 0 ? rank + startDim : startDim;
  const end = endDim < 0 ? rank + endDim : endDim;
  const shape = [...input.shape.slice(0, start), elementCount(input.shape.slice(start, end + 1)), ...input.shape.slice(end + 1)];
  return { shape, data: input.data.slice() };
}

export function addReference(a: Tensor, b: Tensor): Tensor {
  return { shape: [...a.shape], data: a.data.map((v, i) => v + b.data[i]!) };
}

/**
 * The ops whose plain loops live in cpu/ops (pooling, transposed conv, upsample, channel
 * shuffle): the CPU backend runs the same functions, so the PyTorch fixtures are their check.
 */
function leafOp(node: ResolvedPool2d | ResolvedConvTranspose2d | ResolvedUpsample | ResolvedChannelShuffle, x: Tensor, get: (key: string) => Tensor | undefined): Tensor {
  const inShape = x.shape as Shape4;
  const [n, c, h, w] = inShape;
  let outShape: Shape4;
  switch (node.op) {
    case 'maxpool2d':
    case 'avgpool2d':
      outShape = [n, c, ...[0, 1].map((d) => poolOutputSize(inShape[2 + d]!, node.kernel[d]!, node.stride[d]!, node.padding[d]!, node.dilation[d]!, node.ceilMode))] as Shape4;
      break;
    case 'convtranspose2d':
      outShape = [n, node.outChannels, ...[0, 1].map((d) => convTransposeOutputSize(inShape[2 + d]!, node.kernel[d]!, node.stride[d]!, node.padding[d]!, node.outputPadding[d]!, node.dilation[d]!))] as Shape4;
      break;
    case 'upsample':
      outShape = [n, c, upsampleOutputSize(node, 0, h), upsampleOutputSize(node, 1, w)];
      break;
    case 'channelshuffle':
      outShape = [n, c, h, w];
      break;
  }
  const out = new Float32Array(elementCount(outShape));
  switch (node.op) {
    case 'maxpool2d': maxPool2d(x.data, inShape, out, outShape, node); break;
    case 'avgpool2d': avgPool2d(x.data, inShape, out, outShape, node); break;
    case 'convtranspose2d':
      convTranspose2d(x.data, inShape, get(`${node.key}.weight`)!.data, out, outShape, node, { bias: node.bias ? get(`${node.key}.bias`)!.data : undefined, activation: 'none' });
      break;
    case 'upsample':
      upsample2d(x.data, inShape, out, outShape, upsampleAxisTable(node, 0, h, outShape[2]), upsampleAxisTable(node, 1, w, outShape[3]));
      break;
    case 'channelshuffle': channelShuffle(x.data, inShape, out, node.groups); break;
  }
  return { shape: outShape, data: out };
}

/** What the reference forward returns: the output and every leaf's (and residual sum's) output by key. */
export interface ReferenceResult {
  output: Tensor;
  outputs: Map<string, Tensor>;
}

/** Runs a resolved model leaf by leaf with the reference kernels. Weights are assumed valid. */
export function referenceForward(model: ResolvedModel, weights: Record<string, Tensor>, input: Tensor): ReferenceResult {
  const outputs = new Map<string, Tensor>();
  const get = (key: string) => weights[key];
  const run = (node: ResolvedNode, x: Tensor): Tensor => {
    let y: Tensor;
    switch (node.op) {
      case 'sequence':
        return node.children.reduce((value, child) => run(child, value), x);
      case 'residual':
        y = addReference(run(node.body, x), x);
        break;
      case 'channelscale': {
        const scale = run(node.body, x);
        y = { shape: [...x.shape], data: new Float32Array(x.data.length) };
        channelScale(x.data, x.shape as Shape4, scale.data, y.data);
        break;
      }
      case 'conv2d':
        if (!node.pads) throw new Error(`conv ${node.key} has no resolved padding`);
        y = conv2dReference(x, get(`${node.key}.weight`)!, node.bias ? get(`${node.key}.bias`) : undefined, {
          stride: node.stride, dilation: node.dilation, pads: node.pads, paddingMode: node.paddingMode, groups: node.groups,
        });
        break;
      case 'batchnorm2d':
        y = batchNormReference(x, {
          weight: node.affine ? get(`${node.key}.weight`) : undefined,
          bias: node.affine ? get(`${node.key}.bias`) : undefined,
          runningMean: node.trackRunningStats ? get(`${node.key}.running_mean`) : undefined,
          runningVar: node.trackRunningStats ? get(`${node.key}.running_var`) : undefined,
          eps: node.eps,
        });
        break;
      case 'activation':
        y = activationReference(x, activationKind(node.fn, node.approximate), node.negativeSlope);
        break;
      case 'dropout':
        y = { shape: [...x.shape], data: x.data.slice() };
        break;
      case 'adaptiveavgpool2d':
        y = adaptiveAvgPoolReference(x, node.outputSize);
        break;
      case 'flatten':
        y = flattenReference(x, node.startDim, node.endDim);
        break;
      case 'linear':
        y = linearReference(x, get(`${node.key}.weight`)!, node.bias ? get(`${node.key}.bias`) : undefined);
        break;
      default:
        y = leafOp(node, x, get);
        break;
    }
    outputs.set(node.key, y);
    return y;
  };
  const output = model.layers.reduce((value, layer) => run(layer.node, value), input);
  return { output, outputs };
}
