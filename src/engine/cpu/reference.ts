/**
 * The reference: plain, direct loops that say what each module computes, written for reading,
 * not for speed. The fast kernels are tested against these, and these against PyTorch.
 * Accumulates in float64 (JS numbers) and rounds once when storing.
 */
import {
  convOutputSize,
  convTransposeOutputSize,
  poolOutputSize,
  upsampleOutputSize,
  type PaddingMode,
  type ResolvedModel,
  type ResolvedNode,
  type ValueRef,
} from '../../shared/spec';
import { cpuOpRunner, type CpuOpNode, type Shape4 } from './ops/index';
import { elementCount, type Tensor } from '../../shared/tensor';
import { activateScalar } from './activation';
import { activationKind, type ActivationKind } from '../activationKind';

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
    case 'zeros':
      return -1;
    case 'reflect':
      return i < 0 ? -i : 2 * (size - 1) - i;
    case 'replicate':
      return i < 0 ? 0 : size - 1;
    case 'circular':
      return ((i % size) + size) % size;
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
  if (groupChannels * groups !== inChannels)
    throw new Error(`conv2dReference: weight ${weight.shape} does not fit ${inChannels} input channels in ${groups} groups`);
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
  return broadcastReference(a, b, 'add');
}

/** Row-major strides of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

/**
 * a + b or a * b with numpy broadcasting (shapes aligned at the right, a 1 stretches): the
 * result's shape is the broadcast of both. Writes into `out` when given.
 */
export function broadcastReference(a: Tensor, b: Tensor, op: 'add' | 'mul', out?: Float32Array): Tensor {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (shape: readonly number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const as = pad(a.shape);
  const bs = pad(b.shape);
  const shape = as.map((d, i) => Math.max(d, bs[i]!));
  // A stretched dimension reads the same element again: stride 0.
  const aStrides = stridesOf(as).map((s, i) => (as[i] === 1 ? 0 : s));
  const bStrides = stridesOf(bs).map((s, i) => (bs[i] === 1 ? 0 : s));
  const count = elementCount(shape);
  const data = out ?? new Float32Array(count);
  const index = new Array<number>(rank).fill(0);
  const ad = a.data;
  const bd = b.data;
  for (let flat = 0; flat < count; flat++) {
    let ai = 0;
    let bi = 0;
    for (let d = 0; d < rank; d++) {
      ai += index[d]! * aStrides[d]!;
      bi += index[d]! * bStrides[d]!;
    }
    data[flat] = op === 'add' ? ad[ai]! + bd[bi]! : ad[ai]! * bd[bi]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return { shape, data };
}

/** torch.cat along `dim`. Writes into `out` when given. */
export function concatReference(inputs: readonly Tensor[], dim: number, out?: Float32Array): Tensor {
  const first = inputs[0]!.shape;
  const axis = dim < 0 ? first.length + dim : dim;
  const outer = elementCount(first.slice(0, axis));
  const inner = elementCount(first.slice(axis + 1));
  const total = inputs.reduce((sum, t) => sum + t.shape[axis]!, 0);
  const shape = first.map((d, i) => (i === axis ? total : d));
  const data = out ?? new Float32Array(elementCount(shape));
  let offset = 0;
  for (const t of inputs) {
    const rows = t.shape[axis]! * inner;
    const source = t.data;
    for (let o = 0; o < outer; o++) data.set(source.subarray(o * rows, (o + 1) * rows), o * total * inner + offset);
    offset += rows;
  }
  return { shape, data };
}

/** torch.split along `dim` into chunks of `sections`. Writes into `outs` when given. */
export function splitReference(input: Tensor, sections: readonly number[], dim: number, outs?: Float32Array[]): Tensor[] {
  const axis = dim < 0 ? input.shape.length + dim : dim;
  const outer = elementCount(input.shape.slice(0, axis));
  const inner = elementCount(input.shape.slice(axis + 1));
  const size = input.shape[axis]!;
  const source = input.data;
  let offset = 0;
  return sections.map((section, j) => {
    const shape = input.shape.map((d, i) => (i === axis ? section : d));
    const data = outs?.[j] ?? new Float32Array(elementCount(shape));
    const rows = section * inner;
    for (let o = 0; o < outer; o++) data.set(source.subarray(o * size * inner + offset, o * size * inner + offset + rows), o * rows);
    offset += rows;
    return { shape, data };
  });
}

/** Softmax along `dim`: exp(x - max) / sum(exp(x - max)), in float64. Writes into `out` when given. */
export function softmaxReference(input: Tensor, dim: number, out?: Float32Array): Tensor {
  const axis = dim < 0 ? input.shape.length + dim : dim;
  const outer = elementCount(input.shape.slice(0, axis));
  const inner = elementCount(input.shape.slice(axis + 1));
  const size = input.shape[axis]!;
  const x = input.data;
  const data = out ?? new Float32Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let max = -Infinity;
      for (let k = 0; k < size; k++) max = Math.max(max, x[base + k * inner]!);
      let sum = 0;
      for (let k = 0; k < size; k++) sum += Math.exp(x[base + k * inner]! - max);
      for (let k = 0; k < size; k++) data[base + k * inner] = Math.exp(x[base + k * inner]! - max) / sum;
    }
  }
  return { shape: [...input.shape], data };
}

/**
 * The ops whose plain loops live in cpu/ops (pooling, transposed conv, upsample, channel
 * shuffle): the CPU backend runs the same functions, so the PyTorch fixtures are their check.
 */
export function opReference(node: CpuOpNode, x: Tensor, get: (key: string) => Tensor | undefined): Tensor {
  const inShape = x.shape as Shape4;
  const [n, c, h, w] = inShape;
  const size = (d: 0 | 1): number => {
    switch (node.op) {
      case 'maxpool2d':
      case 'avgpool2d':
        return poolOutputSize(inShape[2 + d]!, node.kernel[d], node.stride[d], node.padding[d], node.dilation[d], node.ceilMode);
      case 'convtranspose2d':
        return convTransposeOutputSize(inShape[2 + d]!, node.kernel[d], node.stride[d], node.padding[d], node.outputPadding[d], node.dilation[d]);
      case 'upsample':
        return upsampleOutputSize(node, d, d === 0 ? h : w);
      case 'channelshuffle':
        return inShape[2 + d]!;
    }
  };
  const outShape: Shape4 = [n, node.op === 'convtranspose2d' ? node.outChannels : c, size(0), size(1)];
  const out = new Float32Array(elementCount(outShape));
  cpuOpRunner(node, inShape, outShape, (key) => get(key)!.data)(x.data, out);
  return { shape: outShape, data: out };
}

/** What the reference forward returns: the output (and every output) and each module's output by key. */
export interface ReferenceResult {
  output: Tensor;
  /** The model outputs in order (the graph form may have several). */
  modelOutputs: Tensor[];
  /** Every leaf's, residual sum's and top-level layer's output by key; a Split's chunks as "<key>:<i>". */
  outputs: Map<string, Tensor>;
}

/**
 * Runs a resolved model module by module with the reference kernels, straight from the resolved
 * tree (not through the internal graph or the planner, which it checks). Weights are assumed valid.
 */
export function referenceForward(model: ResolvedModel, weights: Record<string, Tensor>, input: Tensor): ReferenceResult {
  const outputs = new Map<string, Tensor>();
  const get = (key: string) => weights[key];
  const run = (node: ResolvedNode, xs: Tensor[]): Tensor[] => {
    const x = xs[0]!;
    let y: Tensor;
    switch (node.op) {
      case 'sequence':
        return node.children.reduce((value, child) => run(child, value), xs);
      case 'residual':
        y = addReference(run(node.body, xs)[0]!, x);
        break;
      case 'conv2d':
        if (!node.pads) throw new Error(`conv ${node.key} has no resolved padding`);
        y = conv2dReference(x, get(`${node.key}.weight`)!, node.bias ? get(`${node.key}.bias`) : undefined, {
          stride: node.stride,
          dilation: node.dilation,
          pads: node.pads,
          paddingMode: node.paddingMode,
          groups: node.groups,
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
      case 'softmax':
        y = softmaxReference(x, node.dim);
        break;
      case 'add':
      case 'mul':
        y = broadcastReference(x, xs[1]!, node.op);
        break;
      case 'concat':
        y = concatReference(xs, node.dim);
        break;
      case 'split': {
        const chunks = splitReference(x, node.sections!, node.dim);
        chunks.forEach((chunk, i) => outputs.set(`${node.key}:${i}`, chunk));
        return chunks;
      }
      case 'channelscale':
        y = broadcastReference(x, run(node.body, xs)[0]!, 'mul');
        break;
      default:
        y = opReference(node, x, get);
        break;
    }
    outputs.set(node.key, y);
    return [y];
  };
  const layerOutputs: Tensor[][] = [];
  const valueOf = (ref: ValueRef): Tensor => (ref.layer < 0 ? input : layerOutputs[ref.layer]![ref.output]!);
  for (const layer of model.layers) layerOutputs.push(run(layer.node, layer.inputs.map(valueOf)));
  const all = model.outputs.map(valueOf);
  return { output: all[0]!, modelOutputs: all, outputs };
}
