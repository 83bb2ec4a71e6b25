/**
 * The cost model: params, MACs, FLOPs, bytes, memory traffic and arithmetic intensity per module,
 * per layer and in total, under the counting convention of a chosen tool.
 *
 * MACs are multiply-accumulates; FLOPs are always 2 x MACs and always labelled as such.
 * Conventions (each reproduces its tool's numbers):
 * - torchinfo: conv and linear count their bias (one add per output); BatchNorm counts
 *   batch x its affine parameters, as torchinfo's "Mult-Adds" do.
 * - fvcore (and thop): conv and linear count weights only; BatchNorm in eval counts one op per
 *   element (two with affine), five (four) without running stats, which fvcore counts as training;
 *   adaptive average pooling one per input element; Upsample one per output element (nearest)
 *   or four (bilinear); a transposed conv N x weights x input pixels; max and average pooling,
 *   the elementwise activations, ChannelShuffle and the squeeze-excitation product none.
 * - torchinfo counts a transposed conv as it counts every "Conv" module: its parameters (weight
 *   and bias) x N x output pixels.
 * - flop_counter (`torch.utils.flop_counter`): only conv (transposed: N x weights x input pixels)
 *   and linear (matmul) count, without bias;
 *   its reported figure is FLOPs = 2 x MACs.
 * Parameters are every trainable parameter under all three (weights, biases, BN affine).
 */
import {
  describeConv,
  resolveModel,
  type Conv2dSpec,
  type ConvRole,
  type LeafInfo,
  type ModelSpec,
  type ResolvedModel,
  type ResolvedNode,
  type Shape,
} from './spec';
import { elementCount } from './tensor';

export type Convention = 'torchinfo' | 'fvcore' | 'flop_counter';
export type Dtype = 'fp32' | 'fp16' | 'int8';
export const CONVENTIONS: readonly Convention[] = ['torchinfo', 'fvcore', 'flop_counter'];
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'int8'];
export const DTYPE_BYTES: Record<Dtype, number> = { fp32: 4, fp16: 2, int8: 1 };

export interface CostOptions {
  convention?: Convention;
  dtype?: Dtype;
}

export interface Cost {
  params: number;
  macs: number;
  /** Always 2 x macs. */
  flops: number;
  /** Weights and BN statistics, in the chosen dtype. */
  weightBytes: number;
  /** Input plus output activations, in the chosen dtype. */
  activationBytes: number;
  /** Minimum traffic: read the input and the weights once, write the output once. */
  trafficBytes: number;
  /** FLOPs per byte of minimum traffic. */
  intensity: number;
}

export type MacsRole = ConvRole | 'linear' | 'other';
export type MacsByRole = Record<MacsRole, number>;

export interface LeafCost extends Cost {
  key: string;
  label: string;
  layerIndex: number;
  op: string;
  role: LeafInfo['role'];
  weightShape?: number[];
  inShape: Shape;
  outShape: Shape;
}

export interface LayerCost extends Cost {
  index: number;
  type: string;
  label: string;
  inShape: Shape;
  outShape: Shape;
  macsByRole: MacsByRole;
}

/** A depthwise conv followed (through BN and activations only) by a pointwise conv. */
export interface SeparablePair {
  layerIndex: number;
  dwKey: string;
  pwKey: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  separable: { params: number; macs: number };
  /** The standard convolution the pair replaces: same input, same output shape. */
  standard: { params: number; macs: number; weightShape: number[] };
  /** separable / standard MACs. */
  reduction: number;
  /** The textbook ratio 1/Cout + 1/(kh*kw) (exact for multiplier 1 without bias). */
  formula: number;
}

export interface ModelCost {
  convention: Convention;
  dtype: Dtype;
  inputShape: Shape;
  outputShape: Shape;
  layers: LayerCost[];
  leaves: LeafCost[];
  pairs: SeparablePair[];
  total: Cost & {
    macsByRole: MacsByRole;
    /** The same model with every separable pair replaced by the standard conv it stands for. */
    withStandardConvs: { params: number; macs: number };
  };
}

/** MACs per role, all zero. */
export function emptyRoles(): MacsByRole {
  return { depthwise: 0, pointwise: 0, grouped: 0, standard: 0, linear: 0, other: 0 };
}

/** The role a module's MACs are filed under: the conv kinds and linear, else 'other'. */
export function macsRole(role: LeafInfo['role']): MacsRole {
  switch (role) {
    case 'depthwise': case 'pointwise': case 'grouped': case 'standard': case 'linear': return role;
    default: return 'other';
  }
}

interface ConvLike { inChannels: number; outChannels: number; kernel: [number, number]; groups: number; bias: boolean }

/** MACs of a conv at an output shape under a convention. */
function convMacs(conv: ConvLike, outShape: Shape, convention: Convention): number {
  const [n, cout, ho, wo] = outShape as [number, number, number, number];
  const perOutput = (conv.inChannels / conv.groups) * conv.kernel[0] * conv.kernel[1];
  const outputs = n * cout * ho * wo;
  return outputs * perOutput + (convention === 'torchinfo' && conv.bias ? outputs : 0);
}

function convParams(conv: ConvLike): { params: number; weightShape: number[] } {
  const weightShape = [conv.outChannels, conv.inChannels / conv.groups, conv.kernel[0], conv.kernel[1]];
  return { params: elementCount(weightShape) + (conv.bias ? conv.outChannels : 0), weightShape };
}

function leafLabel(leaf: LeafInfo): string {
  const node = leaf.node;
  switch (node.op) {
    case 'conv2d': return `Conv2d ${node.kernel.join('x')} ${describeConv(node)}`;
    case 'batchnorm2d': return 'BatchNorm2d';
    case 'activation': return node.fn;
    case 'adaptiveavgpool2d': return 'AdaptiveAvgPool2d';
    case 'flatten': return 'Flatten';
    case 'linear': return 'Linear';
    case 'dropout': return 'Dropout';
    case 'maxpool2d': return `MaxPool2d ${node.kernel.join('x')}`;
    case 'avgpool2d': return `AvgPool2d ${node.kernel.join('x')}`;
    case 'convtranspose2d': return `ConvTranspose2d ${node.kernel.join('x')} ${describeConv(node)}`;
    case 'upsample': return `Upsample (${node.mode})`;
    case 'channelshuffle': return `ChannelShuffle (groups=${node.groups})`;
    case 'softmax': return `Softmax (dim ${node.dim})`;
    case 'add': return 'Add';
    case 'mul': return 'Mul';
    case 'concat': return `Concat (dim ${node.dim})`;
    case 'split': return `Split (dim ${node.dim})`;
  }
}

function leafCost(leaf: LeafInfo, convention: Convention, bytesPer: number): LeafCost {
  const node = leaf.node;
  const inElements = elementCount(leaf.inShape);
  const outElements = elementCount(leaf.outShape);
  const batch = leaf.inShape[0]!;
  let params = 0;
  let buffers = 0;
  let macs = 0;
  let weightShape: number[] | undefined;
  switch (node.op) {
    case 'conv2d': {
      ({ params, weightShape } = convParams(node));
      macs = convMacs(node, leaf.outShape, convention);
      break;
    }
    case 'linear': {
      weightShape = [node.outFeatures, node.inFeatures];
      params = node.inFeatures * node.outFeatures + (node.bias ? node.outFeatures : 0);
      const rows = outElements / node.outFeatures;
      macs = rows * node.inFeatures * node.outFeatures + (convention === 'torchinfo' && node.bias ? outElements : 0);
      break;
    }
    case 'batchnorm2d': {
      params = node.affine ? 2 * node.numFeatures : 0;
      buffers = node.trackRunningStats ? 2 * node.numFeatures : 0;
      if (convention === 'torchinfo') macs = batch * params;
      // Without running stats PyTorch normalises with batch statistics even in eval, and fvcore counts that as training: 5 (4) per element.
      else if (convention === 'fvcore') macs = inElements * (node.trackRunningStats ? (node.affine ? 2 : 1) : (node.affine ? 5 : 4));
      break;
    }
    case 'adaptiveavgpool2d':
      if (convention === 'fvcore') macs = inElements;
      break;
    case 'convtranspose2d': {
      weightShape = [node.inChannels, node.outChannels / node.groups, node.kernel[0], node.kernel[1]];
      const weights = elementCount(weightShape);
      params = weights + (node.bias ? node.outChannels : 0);
      const [, , ho, wo] = leaf.outShape as [number, number, number, number];
      const [, , hi, wi] = leaf.inShape as [number, number, number, number];
      macs = convention === 'torchinfo' ? params * batch * ho * wo : batch * weights * hi * wi;
      break;
    }
    case 'upsample':
      if (convention === 'fvcore') macs = (node.mode === 'bilinear' ? 4 : 1) * outElements;
      break;
    default:
      break;
  }
  const weightBytes = (params + buffers) * bytesPer;
  // Flatten and Dropout are views at inference: they move no data.
  const moves = node.op !== 'flatten' && node.op !== 'dropout';
  const activationBytes = moves ? (inElements + outElements) * bytesPer : 0;
  const trafficBytes = weightBytes + activationBytes;
  const flops = 2 * macs;
  return {
    key: node.key,
    label: leafLabel(leaf),
    layerIndex: leaf.layerIndex,
    op: node.op,
    role: leaf.role,
    weightShape,
    inShape: leaf.inShape,
    outShape: leaf.outShape,
    params,
    macs,
    flops,
    weightBytes,
    activationBytes,
    trafficBytes,
    intensity: trafficBytes > 0 ? flops / trafficBytes : 0,
  };
}

/** The sum of costs, with the intensity of the sum (not the sum of intensities). */
export function sumCosts(costs: readonly Cost[]): Cost {
  const total = { params: 0, macs: 0, flops: 0, weightBytes: 0, activationBytes: 0, trafficBytes: 0, intensity: 0 };
  for (const c of costs) {
    total.params += c.params;
    total.macs += c.macs;
    total.flops += c.flops;
    total.weightBytes += c.weightBytes;
    total.activationBytes += c.activationBytes;
    total.trafficBytes += c.trafficBytes;
  }
  total.intensity = total.trafficBytes > 0 ? total.flops / total.trafficBytes : 0;
  return total;
}

/**
 * For each leaf key, the keys of the residuals it sits in, innermost last ("" at the top). Two
 * convs with different chains have a residual add (or the input it keeps) between them.
 */
function residualScopes(model: ResolvedModel): Map<string, string> {
  const scopes = new Map<string, string>();
  const visit = (node: ResolvedNode, scope: string): void => {
    if (node.op === 'sequence') node.children.forEach((child) => visit(child, scope));
    else if (node.op === 'residual' || node.op === 'channelscale') visit(node.body, `${scope}/${node.key}`);
    else scopes.set(node.key, scope);
  };
  for (const layer of model.layers) visit(layer.node, '');
  return scopes;
}

function findPairs(model: ResolvedModel, leaves: LeafCost[], convention: Convention): SeparablePair[] {
  const pairs: SeparablePair[] = [];
  const scopes = residualScopes(model);
  for (let i = 0; i < model.leaves.length; i++) {
    const dw = model.leaves[i]!;
    if (dw.role !== 'depthwise' || dw.node.op !== 'conv2d') continue;
    let j = i + 1;
    while (j < model.leaves.length && (model.leaves[j]!.role === 'batchnorm' || model.leaves[j]!.role === 'activation')) j++;
    const pw = model.leaves[j];
    if (!pw || pw.role !== 'pointwise' || pw.node.op !== 'conv2d' || pw.node.stride[0] !== 1 || pw.node.stride[1] !== 1) continue;
    // A residual add between the halves (x + dw(x), or a skip that keeps dw's output) leaves no standard conv to compare with.
    const scope = scopes.get(dw.node.key);
    if (model.leaves.slice(i + 1, j + 1).some((leaf) => scopes.get(leaf.node.key) !== scope)) continue;
    const dwNode = dw.node;
    const pwNode = pw.node;
    const standardConv: ConvLike = { inChannels: dwNode.inChannels, outChannels: pwNode.outChannels, kernel: dwNode.kernel, groups: 1, bias: pwNode.bias };
    const standardOut = [dw.outShape[0]!, pwNode.outChannels, dw.outShape[2]!, dw.outShape[3]!];
    const standard = convParams(standardConv);
    const standardMacs = convMacs(standardConv, standardOut, convention);
    const separable = { params: leaves[i]!.params + leaves[j]!.params, macs: leaves[i]!.macs + leaves[j]!.macs };
    pairs.push({
      layerIndex: dw.layerIndex,
      dwKey: dwNode.key,
      pwKey: pwNode.key,
      inChannels: dwNode.inChannels,
      outChannels: pwNode.outChannels,
      kernel: dwNode.kernel,
      separable,
      standard: { params: standard.params, macs: standardMacs, weightShape: standard.weightShape },
      reduction: standardMacs > 0 ? separable.macs / standardMacs : 0,
      formula: 1 / pwNode.outChannels + 1 / (dwNode.kernel[0] * dwNode.kernel[1]),
    });
  }
  return pairs;
}

function layerTypeLabel(type: string, leaves: LeafCost[]): string {
  if (type === 'Conv2d' && leaves[0]) return leaves[0].label;
  return type;
}

/** Costs a resolved model under a convention and dtype. */
export function costModel(model: ResolvedModel, options: CostOptions = {}): ModelCost {
  const convention = options.convention ?? 'torchinfo';
  const dtype = options.dtype ?? 'fp32';
  if (!CONVENTIONS.includes(convention)) throw new Error(`unknown convention ${JSON.stringify(convention)} (known: ${CONVENTIONS.join(', ')})`);
  if (!DTYPES.includes(dtype)) throw new Error(`unknown dtype ${JSON.stringify(dtype)} (known: ${DTYPES.join(', ')})`);
  const bytesPer = DTYPE_BYTES[dtype];
  const leaves = model.leaves.map((leaf) => leafCost(leaf, convention, bytesPer));
  const totalRoles = emptyRoles();
  const layers: LayerCost[] = model.layers.map((layer) => {
    const mine = leaves.filter((leaf) => leaf.layerIndex === layer.index);
    const macsByRole = emptyRoles();
    for (const leaf of mine) {
      macsByRole[macsRole(leaf.role)] += leaf.macs;
      totalRoles[macsRole(leaf.role)] += leaf.macs;
    }
    const type = (layer.spec as { type: string }).type;
    return { index: layer.index, type, label: layerTypeLabel(type, mine), inShape: layer.inShape, outShape: layer.outShape, macsByRole, ...sumCosts(mine) };
  });
  const pairs = findPairs(model, leaves, convention);
  const total = sumCosts(leaves);
  const withStandardConvs = pairs.reduce(
    (acc, pair) => ({ params: acc.params - pair.separable.params + pair.standard.params, macs: acc.macs - pair.separable.macs + pair.standard.macs }),
    { params: total.params, macs: total.macs },
  );
  return {
    convention,
    dtype,
    inputShape: model.inputShape,
    outputShape: model.outputShape,
    layers,
    leaves,
    pairs,
    total: { ...total, macsByRole: totalRoles, withStandardConvs },
  };
}

/** A Conv2d as the editor reads it from code: the spec's arguments without the padding mode. */
export type ConvArguments = Omit<Conv2dSpec, 'type' | 'padding_mode'>;

export interface ConvEstimate {
  kind: string;
  weightShape: number[];
  outShape: Shape;
  cost: Cost;
  /** For a standard conv with a kernel larger than 1x1: its depthwise-separable replacement. */
  separable?: { dw: Cost; pw: Cost; total: Cost; saving: number; formula: number };
}

/**
 * The cost of one Conv2d at an input shape, and for a standard conv with a kernel larger than 1x1
 * the cost of the depthwise-separable replacement (dw k x k with the same stride, padding and
 * dilation, then pw 1x1) and the MAC saving (1 - separable / standard). Throws SpecError when
 * the arguments are invalid for PyTorch.
 */
export function estimateConv(conv: ConvArguments, inShape: Shape, options: CostOptions = {}): ConvEstimate {
  const spec: ModelSpec = { input_shape: inShape, layers: [{ type: 'Conv2d', ...conv }] };
  const resolved = resolveModel(spec);
  const leaf = costModel(resolved, options).leaves[0]!;
  const node = resolved.leaves[0]!.node;
  if (node.op !== 'conv2d') throw new Error('not a convolution');
  const estimate: ConvEstimate = { kind: describeConv(node), weightShape: leaf.weightShape!, outShape: leaf.outShape, cost: leaf };
  const largerThan1x1 = node.kernel[0] * node.kernel[1] > 1;
  if (leaf.role === 'standard' && largerThan1x1) {
    const replacement: ModelSpec = {
      input_shape: inShape,
      layers: [
        { type: 'Conv2d', in_channels: conv.in_channels, out_channels: conv.in_channels, kernel_size: conv.kernel_size, stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.in_channels, bias: conv.bias },
        { type: 'Conv2d', in_channels: conv.in_channels, out_channels: conv.out_channels, kernel_size: 1, bias: conv.bias },
      ],
    };
    const sep = costModel(resolveModel(replacement), options);
    const total = sumCosts(sep.leaves);
    estimate.separable = {
      dw: sep.leaves[0]!,
      pw: sep.leaves[1]!,
      total,
      saving: leaf.macs > 0 ? 1 - total.macs / leaf.macs : 0,
      formula: 1 / node.outChannels + 1 / (node.kernel[0] * node.kernel[1]),
    };
  }
  return estimate;
}

/**
 * The cost with the params of some modules replaced by a count made elsewhere: for an imported
 * model, the elements of the file's weight tensors each node uses, where the spec's own count
 * differs (a per-channel Mul or Add by a file constant becomes a BatchNorm2d node whose scale and
 * shift are not all parameters of the file). Layers and totals are adjusted by the same amounts.
 */
export function withCountedParams(cost: ModelCost, counted: Readonly<Record<string, number>> | undefined): ModelCost {
  if (!counted) return cost;
  const deltaByLayer = new Map<number, number>();
  let delta = 0;
  const leaves = cost.leaves.map((leaf) => {
    const params = Object.hasOwn(counted, leaf.key) ? counted[leaf.key]! : undefined;
    if (params === undefined || params === leaf.params) return leaf;
    const d = params - leaf.params;
    delta += d;
    deltaByLayer.set(leaf.layerIndex, (deltaByLayer.get(leaf.layerIndex) ?? 0) + d);
    return { ...leaf, params };
  });
  if (delta === 0 && deltaByLayer.size === 0) return cost;
  const layers = cost.layers.map((layer) => (deltaByLayer.has(layer.index) ? { ...layer, params: layer.params + deltaByLayer.get(layer.index)! } : layer));
  const total = { ...cost.total, params: cost.total.params + delta, withStandardConvs: { ...cost.total.withStandardConvs, params: cost.total.withStandardConvs.params + delta } };
  return { ...cost, leaves, layers, total };
}
