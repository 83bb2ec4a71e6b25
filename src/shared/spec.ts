/**
 * The model spec: a JSON description of a network whose layers mirror PyTorch modules one to
 * one. `torch.nn.Sequential(*layers)` built from the same list has the same structure and the
 * same `state_dict()` keys. Composites (DepthwiseSeparable, InvertedResidual, Residual) expand to
 * the primitive modules with the keys of the nested modules that the PyTorch export writes.
 *
 * This module imports neither `vscode` nor the DOM.
 */
import { elementCount } from './tensor';
import { formatBytes } from './format';

export type Padding2d = number | [number, number] | 'same' | 'valid' | 'tf_same';
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';
export type ActivationType = 'ReLU' | 'ReLU6' | 'SiLU' | 'Hardswish' | 'GELU' | 'Identity' | 'Hardsigmoid' | 'Sigmoid' | 'Tanh' | 'LeakyReLU';
export const ACTIVATION_TYPES: readonly ActivationType[] = [
  'ReLU',
  'ReLU6',
  'SiLU',
  'Hardswish',
  'GELU',
  'Identity',
  'Hardsigmoid',
  'Sigmoid',
  'Tanh',
  'LeakyReLU',
];
export type UpsampleMode = 'nearest' | 'bilinear';
export const UPSAMPLE_MODES: readonly UpsampleMode[] = ['nearest', 'bilinear'];
/** LeakyReLU's default negative_slope, as PyTorch's. */
export const DEFAULT_NEGATIVE_SLOPE = 0.01;
export const PADDING_MODES: readonly PaddingMode[] = ['zeros', 'reflect', 'replicate', 'circular'];

export interface Conv2dSpec {
  type: 'Conv2d';
  in_channels: number;
  out_channels: number;
  kernel_size: number | [number, number];
  stride?: number | [number, number];
  padding?: Padding2d;
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
  padding_mode?: PaddingMode;
}

export interface BatchNorm2dSpec {
  type: 'BatchNorm2d';
  num_features: number;
  eps?: number;
  momentum?: number;
  affine?: boolean;
  track_running_stats?: boolean;
}

export interface ActivationSpec {
  type: ActivationType;
  inplace?: boolean;
  /** GELU only: "none" (erf) or "tanh". */
  approximate?: 'none' | 'tanh';
  /** LeakyReLU only: the slope for x < 0 (default 0.01). */
  negative_slope?: number;
}

export interface DropoutSpec {
  type: 'Dropout';
  p?: number;
  inplace?: boolean;
}
export interface AdaptiveAvgPool2dSpec {
  type: 'AdaptiveAvgPool2d';
  output_size: number | [number, number];
}
export interface FlattenSpec {
  type: 'Flatten';
  start_dim?: number;
  end_dim?: number;
}
export interface LinearSpec {
  type: 'Linear';
  in_features: number;
  out_features: number;
  bias?: boolean;
}

/** torch.nn.MaxPool2d: stride defaults to kernel_size; padding (the -inf border) at most half the kernel. */
export interface MaxPool2dSpec {
  type: 'MaxPool2d';
  kernel_size: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** Only false: the engine returns values, not indices. */
  return_indices?: boolean;
  ceil_mode?: boolean;
}

/** torch.nn.AvgPool2d: stride defaults to kernel_size; padding (zeros) at most half the kernel. */
export interface AvgPool2dSpec {
  type: 'AvgPool2d';
  kernel_size: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceil_mode?: boolean;
  count_include_pad?: boolean;
  divisor_override?: number;
}

/** torch.nn.ConvTranspose2d; weight [in_channels, out_channels / groups, kh, kw] as PyTorch's. */
export interface ConvTranspose2dSpec {
  type: 'ConvTranspose2d';
  in_channels: number;
  out_channels: number;
  kernel_size: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  output_padding?: number | [number, number];
  groups?: number;
  bias?: boolean;
  dilation?: number | [number, number];
  padding_mode?: 'zeros';
}

/** torch.nn.Upsample: exactly one of size and scale_factor. */
export interface UpsampleSpec {
  type: 'Upsample';
  size?: number | [number, number];
  scale_factor?: number | [number, number];
  mode?: UpsampleMode;
  /** bilinear only. */
  align_corners?: boolean;
  recompute_scale_factor?: boolean;
}

/** torch.nn.ChannelShuffle: [N, g, C/g, H, W] transposed to [N, C/g, g, H, W]. */
export interface ChannelShuffleSpec {
  type: 'ChannelShuffle';
  groups: number;
}

/**
 * torchvision.ops.SqueezeExcitation: x * scale_activation(fc2(activation(fc1(avgpool(x))))),
 * fc1 and fc2 1x1 convs with bias; keys `<i>.fc1.*`, `<i>.fc2.*`.
 */
export interface SqueezeExcitationSpec {
  type: 'SqueezeExcitation';
  input_channels: number;
  squeeze_channels: number;
  /** A class name; default "ReLU". */
  activation?: ActivationType;
  /** A class name; default "Sigmoid". */
  scale_activation?: ActivationType;
}

/**
 * dw conv (groups = in_channels), optional BN, activation, pw 1x1 conv, optional BN, activation,
 * as one `nn.Sequential`: keys `<i>.0.weight` (dw), `<i>.1.*` (BN), `<i>.3.weight` (pw), ...
 */
export interface DepthwiseSeparableSpec {
  type: 'DepthwiseSeparable';
  in_channels: number;
  out_channels: number;
  kernel_size?: number | [number, number];
  stride?: number | [number, number];
  /** Defaults to dilation * (kernel_size - 1) / 2 per side, PyTorch's symmetric "keep the size" padding. */
  padding?: Padding2d;
  dilation?: number | [number, number];
  depth_multiplier?: number;
  bias?: boolean;
  batch_norm?: boolean;
  activation?: ActivationType;
  /** Activation after the pointwise conv; defaults to `activation`. "Identity" for a linear output. */
  pw_activation?: ActivationType;
  padding_mode?: PaddingMode;
}

/**
 * MobileNetV2's block with torchvision's keys: `<i>.conv.0.0.weight` (expand 1x1), `<i>.conv.0.1.*`
 * (its BN), `<i>.conv.1.0.weight` (dw), `<i>.conv.1.1.*`, `<i>.conv.2.weight` (project 1x1),
 * `<i>.conv.3.*` (its BN). With expand_ratio 1 there is no expand conv and the indices shift down.
 */
export interface InvertedResidualSpec {
  type: 'InvertedResidual';
  in_channels: number;
  out_channels: number;
  stride?: number;
  expand_ratio?: number;
  kernel_size?: number;
  activation?: ActivationType;
}

/** A body whose output is added to its input: `<i>.body.<j>.*`. */
export interface ResidualSpec {
  type: 'Residual';
  body: LayerSpec[];
}

/** `nn.Sequential(*layers)`: keys `<i>.<j>.*`. */
export interface SequentialSpec {
  type: 'Sequential';
  layers: LayerSpec[];
}

/** `nn.Softmax(dim)`. */
export interface SoftmaxSpec {
  type: 'Softmax';
  dim: number;
}

export type LayerSpec =
  | Conv2dSpec
  | BatchNorm2dSpec
  | ActivationSpec
  | DropoutSpec
  | AdaptiveAvgPool2dSpec
  | FlattenSpec
  | LinearSpec
  | SoftmaxSpec
  | MaxPool2dSpec
  | AvgPool2dSpec
  | ConvTranspose2dSpec
  | UpsampleSpec
  | ChannelShuffleSpec
  | DepthwiseSeparableSpec
  | InvertedResidualSpec
  | ResidualSpec
  | SequentialSpec
  | SqueezeExcitationSpec;

export type LayerType = LayerSpec['type'];
export const LAYER_TYPES: readonly LayerType[] = [
  'Conv2d',
  'BatchNorm2d',
  ...ACTIVATION_TYPES,
  'Dropout',
  'AdaptiveAvgPool2d',
  'Flatten',
  'Linear',
  'Softmax',
  'MaxPool2d',
  'AvgPool2d',
  'ConvTranspose2d',
  'Upsample',
  'ChannelShuffle',
  'DepthwiseSeparable',
  'InvertedResidual',
  'Residual',
  'Sequential',
  'SqueezeExcitation',
];

/** The chain form: the layers run one after another, as `nn.Sequential(*layers)`. */
export interface ModelSpec {
  name?: string;
  /** [N, C, H, W] */
  input_shape?: number[];
  layers: LayerSpec[];
}

/** Ops of the graph form only: they take several inputs or give several outputs. */
export type GraphOpSpec =
  { type: 'Add' } | { type: 'Mul' } | { type: 'Concat'; dim?: number } | { type: 'Split'; split_size_or_sections: number | number[]; dim?: number };
export const GRAPH_OP_TYPES = ['Add', 'Mul', 'Concat', 'Split'] as const;

/** A node of the graph form: a layer or a graph op, named, with the values it reads. */
export type GraphNodeSpec = (LayerSpec | GraphOpSpec) & {
  /** Unique; the state_dict prefix of the node's weights (`features.0` -> `features.0.weight`). */
  name: string;
  /** `"input"`, `"<node>"` or `"<node>:<i>"` (the i-th output of a Split). */
  inputs: string[];
};

/** The graph form: named nodes in topological order, each naming its inputs. */
export interface GraphModelSpec {
  name?: string;
  input_shape?: number[];
  nodes: GraphNodeSpec[];
  /** The model's outputs; default: the last node's output. */
  outputs?: string[];
}

/** Node names: identifiers, dot-separated as PyTorch module paths are ("features.0"). */
export const NODE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;

/** A tensor shape; NCHW for 4-D activations, [N, F] after Flatten. */
export type Shape = number[];

// ---------------------------------------------------------------------------------------------
// Errors

/** An invalid spec: names the layer (index and path), the field and the reason. */
export class SpecError extends Error {
  constructor(
    /** Where: `layers[3]` or `layers[3].conv.1.0` (the state_dict prefix after the index). */
    readonly path: string,
    readonly field: string | undefined,
    readonly reason: string,
    /** Top-level layer index, -1 for the model itself. */
    readonly layerIndex: number,
  ) {
    super(`${path}${field ? `.${field}` : ''}: ${reason}`);
    this.name = 'SpecError';
  }
}

// ---------------------------------------------------------------------------------------------
// The expanded graph: what composites turn into. Every node has the state_dict prefix of its module.

export interface ResolvedConv2d {
  op: 'conv2d';
  key: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** As the spec gave it (for display and code export). */
  padding: Padding2d;
  /** Resolved per input size: [top, bottom, left, right]; filled by shape inference. */
  pads?: [number, number, number, number];
  paddingMode: PaddingMode;
  groups: number;
  bias: boolean;
}

export interface ResolvedBatchNorm {
  op: 'batchnorm2d';
  key: string;
  numFeatures: number;
  eps: number;
  momentum: number;
  affine: boolean;
  trackRunningStats: boolean;
}
export interface ResolvedActivation {
  op: 'activation';
  key: string;
  fn: ActivationType;
  approximate: 'none' | 'tanh';
  /** LeakyReLU's slope for x < 0 (0.01 unless the spec says otherwise; unused by the others). */
  negativeSlope: number;
}
export interface ResolvedDropout {
  op: 'dropout';
  key: string;
  p: number;
}
export interface ResolvedPool {
  op: 'adaptiveavgpool2d';
  key: string;
  outputSize: [number, number];
}
export interface ResolvedFlatten {
  op: 'flatten';
  key: string;
  startDim: number;
  endDim: number;
}
export interface ResolvedLinear {
  op: 'linear';
  key: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}
/** MaxPool2d and AvgPool2d. Padding is symmetric: [top = bottom, left = right]. */
export interface ResolvedPool2d {
  op: 'maxpool2d' | 'avgpool2d';
  key: string;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  /** Always [1, 1] for AvgPool2d. */
  dilation: [number, number];
  ceilMode: boolean;
  /** AvgPool2d: whether the zeros of the padding count in the divisor. */
  countIncludePad: boolean;
  /** AvgPool2d: a fixed divisor instead of the window's size. */
  divisorOverride?: number;
}
export interface ResolvedConvTranspose2d {
  op: 'convtranspose2d';
  key: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  outputPadding: [number, number];
  dilation: [number, number];
  groups: number;
  bias: boolean;
}
export interface ResolvedUpsample {
  op: 'upsample';
  key: string;
  mode: UpsampleMode;
  alignCorners: boolean;
  /** The spec's size, or undefined when it gave a scale factor. */
  size?: [number, number];
  /** The spec's scale_factor, or undefined when it gave a size. */
  scaleFactor?: [number, number];
  /** Whether the kernels map coordinates with the given scale factor (PyTorch does unless recompute_scale_factor) rather than in/out. */
  useScaleFactor: boolean;
}
export interface ResolvedChannelShuffle {
  op: 'channelshuffle';
  key: string;
  groups: number;
}
export interface ResolvedSoftmax {
  op: 'softmax';
  key: string;
  dim: number;
}
/** Elementwise a + b with numpy broadcasting. */
export interface ResolvedAdd {
  op: 'add';
  key: string;
}
/** Elementwise a * b with numpy broadcasting (N,C,H,W * N,C,1,1 for a channel gate). */
export interface ResolvedMul {
  op: 'mul';
  key: string;
}
export interface ResolvedConcat {
  op: 'concat';
  key: string;
  dim: number;
}
export interface ResolvedSplit {
  op: 'split';
  key: string;
  dim: number;
  /** As the spec gave it: a chunk size (the last chunk may be smaller) or the sizes. */
  splitSize: number | number[];
  /** The chunk sizes for the input; filled by shape inference. */
  sections?: number[];
}
export interface ResolvedSequence {
  op: 'sequence';
  key: string;
  children: ResolvedNode[];
}
/** out = body(x) + x. */
export interface ResolvedResidual {
  op: 'residual';
  key: string;
  body: ResolvedSequence;
}
/** out = x * body(x), the body's [N, C, 1, 1] output broadcast over H and W (squeeze-excitation). */
export interface ResolvedChannelScale {
  op: 'channelscale';
  key: string;
  body: ResolvedSequence;
}

export type ResolvedLeaf =
  | ResolvedConv2d
  | ResolvedBatchNorm
  | ResolvedActivation
  | ResolvedDropout
  | ResolvedPool
  | ResolvedFlatten
  | ResolvedLinear
  | ResolvedSoftmax
  | ResolvedAdd
  | ResolvedMul
  | ResolvedConcat
  | ResolvedSplit
  | ResolvedPool2d
  | ResolvedConvTranspose2d
  | ResolvedUpsample
  | ResolvedChannelShuffle;
export type ResolvedNode = ResolvedLeaf | ResolvedSequence | ResolvedResidual | ResolvedChannelScale;

/** A value of the model: the model input (layer -1) or output `output` of layer `layer`. */
export interface ValueRef {
  layer: number;
  output: number;
}

/** What a layer of the spec (a node of the graph form) became, with the shapes it sees. */
export interface ResolvedLayer {
  index: number;
  /** The layer as the spec wrote it (a graph node with its `name` and `inputs`). */
  spec: LayerSpec;
  node: ResolvedNode;
  /** The state_dict prefix: the index in the chain form, the node's name in the graph form. */
  key: string;
  /** The values the layer reads: the previous layer's output in the chain form. */
  inputs: ValueRef[];
  inShape: Shape;
  outShape: Shape;
  /** Every output's shape (a Split has several). */
  outShapes: Shape[];
}

export interface ResolvedModel {
  name: string;
  /** Which form the spec had. */
  form: 'chain' | 'graph';
  inputShape: Shape;
  /** The first output's shape. */
  outputShape: Shape;
  /** The model's outputs, in order (the last layer's in the chain form). */
  outputs: ValueRef[];
  /** The graph form's `outputs` as the spec wrote them (to resolve the spec again). */
  outputNames?: string[];
  layers: ResolvedLayer[];
  /** Every primitive module in execution order, with its shapes. */
  leaves: LeafInfo[];
  /** fp32 bytes of every activation (input, each leaf's output, residual sums). */
  activationBytes: number;
}

export interface LeafInfo {
  node: ResolvedLeaf;
  layerIndex: number;
  /** The first input's shape. */
  inShape: Shape;
  /** The first output's shape. */
  outShape: Shape;
  /** Every input's shape (Add, Mul and Concat have several). */
  inShapes: Shape[];
  /** Every output's shape (a Split has several). */
  outShapes: Shape[];
  /** The role of a conv: what the cost model and the feature map view call it. */
  role:
    ConvRole | 'batchnorm' | 'activation' | 'pool' | 'flatten' | 'linear' | 'dropout' | 'softmax' | 'elementwise' | 'concat' | 'split' | 'upsample' | 'shuffle';
}

export type ConvRole = 'depthwise' | 'pointwise' | 'grouped' | 'standard';

export interface ResolveOptions {
  /** Overrides the spec's input_shape. */
  inputShape?: Shape;
  /** Refuse specs whose activations (fp32, all intermediates) would need more bytes. Default 2 GiB. */
  maxActivationBytes?: number;
  /** Refuse specs whose weights and BN statistics (fp32) would need more bytes. Default 2 GiB. */
  maxParameterBytes?: number;
}

export const DEFAULT_MAX_ACTIVATION_BYTES = 2 * 1024 ** 3;
export const DEFAULT_MAX_PARAMETER_BYTES = 2 * 1024 ** 3;
const MAX_DIM = 1 << 20;
/**
 * Residual blocks nested in one another at most: far more than any real network (MobileNetV2 nests
 * one), few enough that every walk over the tree stays well inside the call stack.
 */
export const MAX_NESTING = 32;

// ---------------------------------------------------------------------------------------------
// Small validators

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class FieldReader {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly path: string,
    readonly layerIndex: number,
  ) {}

  fail(field: string | undefined, reason: string): never {
    throw new SpecError(this.path, field, reason, this.layerIndex);
  }

  /**
   * The field's value, or `fallback` when it is left out. `null` is refused rather than read as
   * "the default": PyTorch reads `bias=None` as no bias, so no reading of null is safe.
   */
  private get(field: string, fallback: unknown): unknown {
    const value = this.raw[field];
    if (value === null) this.fail(field, 'is null; leave the field out to take its default');
    return value === undefined ? fallback : value;
  }

  int(field: string, fallback?: number, min = 1): number {
    return this.checkInt(field, this.get(field, fallback), min);
  }

  private checkInt(field: string, value: unknown, min: number): number {
    if (value === undefined || (typeof value === 'number' && Number.isNaN(value))) this.fail(field, 'is required');
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(field, `must be an integer, got ${shown(value)}`);
    if (value < min) this.fail(field, `must be >= ${min}, got ${value}`);
    if (value > MAX_DIM) this.fail(field, `must be <= ${MAX_DIM}, got ${value}`);
    return value;
  }

  pair(field: string, fallback: number, min = 1, fallbackPair?: [number, number]): [number, number] {
    if (fallbackPair && this.raw[field] === undefined) return [...fallbackPair];
    return this.checkPair(field, this.get(field, fallback), min);
  }

  /** Whether the spec gives the field (null is refused as everywhere). */
  has(field: string): boolean {
    return this.get(field, undefined) !== undefined;
  }

  /** A positive finite number or a pair of them (Upsample's scale_factor). */
  positivePair(field: string): [number, number] {
    const value = this.get(field, undefined);
    const values = typeof value === 'number' ? [value, value] : value;
    if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_DIM)) {
      this.fail(field, `must be a positive number or a pair of them, got ${JSON.stringify(value)}`);
    }
    return [values[0] as number, values[1] as number];
  }

  private checkPair(field: string, value: unknown, min: number): [number, number] {
    if (typeof value === 'number') {
      const v = this.checkInt(field, value, min);
      return [v, v];
    }
    if (!Array.isArray(value) || value.length !== 2) this.fail(field, `must be an integer or a pair [h, w], got ${shown(value)}`);
    for (const v of value) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_DIM) {
        this.fail(field, `must hold integers >= ${min}, got ${shown(value)}`);
      }
    }
    return [value[0] as number, value[1] as number];
  }

  number(field: string, fallback: number, check: (v: number) => boolean, expectation: string): number {
    const value = this.get(field, fallback);
    if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) this.fail(field, `must be ${expectation}, got ${shown(value)}`);
    return value;
  }

  bool(field: string, fallback: boolean): boolean {
    const value = this.get(field, fallback);
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${shown(value)}`);
    return value;
  }

  oneOf<T extends string>(field: string, options: readonly T[], fallback: T): T {
    const value = this.get(field, fallback);
    if (typeof value !== 'string' || !options.includes(value as T)) {
      this.fail(field, `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}, got ${shown(value)}`);
    }
    return value as T;
  }

  padding(field: string, fallback: Padding2d): Padding2d {
    const value = this.get(field, fallback);
    if (value === 'same' || value === 'valid' || value === 'tf_same') return value;
    if (typeof value === 'string') this.fail(field, `must be an integer, a pair, "same", "valid" or "tf_same", got ${shown(value)}`);
    return this.checkPair(field, value, 0);
  }

  /** Rejects fields the layer type does not know (typos would otherwise silently take defaults). */
  only(known: readonly string[]): void {
    for (const key of Object.keys(this.raw)) {
      if (key !== 'type' && !known.includes(key)) this.fail(key, `is not an argument of ${String(this.raw.type)} (known: ${known.join(', ')})`);
    }
  }
}

const CONV_FIELDS = ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode', 'device', 'dtype'];
const BN_FIELDS = ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats'];
const DS_FIELDS = [
  'in_channels',
  'out_channels',
  'kernel_size',
  'stride',
  'padding',
  'dilation',
  'depth_multiplier',
  'bias',
  'batch_norm',
  'activation',
  'pw_activation',
  'padding_mode',
];
const IR_FIELDS = ['in_channels', 'out_channels', 'stride', 'expand_ratio', 'kernel_size', 'activation'];
const SE_FIELDS = ['input_channels', 'squeeze_channels', 'activation', 'scale_activation'];
/** torch.nn.ConvTranspose2d's parameters, in its positional order. */
export const CONV_TRANSPOSE_FIELDS: readonly string[] = [
  'in_channels',
  'out_channels',
  'kernel_size',
  'stride',
  'padding',
  'output_padding',
  'groups',
  'bias',
  'dilation',
  'padding_mode',
  'device',
  'dtype',
];

// ---------------------------------------------------------------------------------------------
// Expansion: spec -> resolved nodes (structure only; shapes come after)

/** The arguments Conv2d and ConvTranspose2d read alike, with PyTorch's check that groups divide both channel counts. */
function convArguments(r: FieldReader) {
  const inChannels = r.int('in_channels');
  const outChannels = r.int('out_channels');
  const groups = r.int('groups', 1);
  if (inChannels % groups !== 0) r.fail('groups', `groups=${groups} does not divide in_channels=${inChannels}`);
  if (outChannels % groups !== 0) r.fail('groups', `groups=${groups} does not divide out_channels=${outChannels}`);
  return { inChannels, outChannels, groups, kernel: r.pair('kernel_size', NaN), stride: r.pair('stride', 1), dilation: r.pair('dilation', 1) };
}

function resolveConv(r: FieldReader, key: string): ResolvedConv2d {
  r.only(CONV_FIELDS);
  const { inChannels, outChannels, groups, kernel, stride, dilation } = convArguments(r);
  const padding = r.padding('padding', 0);
  if (padding === 'same' && (stride[0] > 1 || stride[1] > 1)) {
    r.fail(
      'padding',
      `padding="same" is not supported for strided convolutions (stride=${stride.join('x')}), as in PyTorch; use "tf_same" for TensorFlow's SAME`,
    );
  }
  const paddingMode = r.oneOf('padding_mode', PADDING_MODES, 'zeros');
  return { op: 'conv2d', key, inChannels, outChannels, kernel, stride, dilation, padding, paddingMode, groups, bias: r.bool('bias', true) };
}

function resolveBatchNorm(r: FieldReader, key: string): ResolvedBatchNorm {
  r.only(BN_FIELDS);
  return {
    op: 'batchnorm2d',
    key,
    numFeatures: r.int('num_features'),
    eps: r.number('eps', 1e-5, (v) => v > 0, 'a positive number'),
    momentum: r.number('momentum', 0.1, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    affine: r.bool('affine', true),
    trackRunningStats: r.bool('track_running_stats', true),
  };
}

function conv(key: string, inChannels: number, outChannels: number, kernel: [number, number], options: Partial<ResolvedConv2d> = {}): ResolvedConv2d {
  return {
    op: 'conv2d',
    key,
    inChannels,
    outChannels,
    kernel,
    stride: [1, 1],
    dilation: [1, 1],
    padding: 0,
    paddingMode: 'zeros',
    groups: 1,
    bias: false,
    ...options,
  };
}

function batchNorm(key: string, numFeatures: number): ResolvedBatchNorm {
  return { op: 'batchnorm2d', key, numFeatures, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true };
}

function activation(key: string, fn: ActivationType): ResolvedActivation {
  return { op: 'activation', key, fn, approximate: 'none', negativeSlope: DEFAULT_NEGATIVE_SLOPE };
}

/** MaxPool2d and AvgPool2d share PyTorch's checks: stride defaults to the kernel, padding at most half of it. */
function resolvePool2d(r: FieldReader, key: string, op: 'maxpool2d' | 'avgpool2d'): ResolvedPool2d {
  const kernel = r.pair('kernel_size', NaN);
  const stride = r.pair('stride', NaN, 1, kernel);
  const padding = r.pair('padding', 0, 0);
  for (const d of [0, 1]) {
    if (padding[d]! > Math.floor(kernel[d]! / 2)) {
      r.fail('padding', `pad should be at most half of kernel size, got padding=${padding.join('x')} for kernel_size=${kernel.join('x')}, as PyTorch requires`);
    }
  }
  const ceilMode = r.bool('ceil_mode', false);
  if (op === 'maxpool2d') {
    if (r.bool('return_indices', false)) r.fail('return_indices', 'must be false: the engine returns the pooled values only');
    return { op, key, kernel, stride, padding, dilation: r.pair('dilation', 1), ceilMode, countIncludePad: false };
  }
  const countIncludePad = r.bool('count_include_pad', true);
  const node: ResolvedPool2d = { op, key, kernel, stride, padding, dilation: [1, 1], ceilMode, countIncludePad };
  if (r.has('divisor_override')) {
    // PyTorch takes any integer but 0, negative ones included.
    node.divisorOverride = r.int('divisor_override', undefined, -MAX_DIM);
    if (node.divisorOverride === 0) r.fail('divisor_override', 'divisor must be not zero, as PyTorch requires');
  }
  return node;
}

function resolveConvTranspose(r: FieldReader, key: string): ResolvedConvTranspose2d {
  const { inChannels, outChannels, groups, kernel, stride, dilation } = convArguments(r);
  if (typeof r.raw.padding === 'string') r.fail('padding', `must be an integer or a pair for ConvTranspose2d, got ${JSON.stringify(r.raw.padding)}`);
  const padding = r.pair('padding', 0, 0);
  const outputPadding = r.pair('output_padding', 0, 0);
  for (const d of [0, 1]) {
    if (outputPadding[d]! >= stride[d]! && outputPadding[d]! >= dilation[d]!) {
      r.fail(
        'output_padding',
        `output padding must be smaller than either stride or dilation, got output_padding=${outputPadding.join('x')}, stride=${stride.join('x')}, dilation=${dilation.join('x')}`,
      );
    }
  }
  r.oneOf('padding_mode', ['zeros'] as const, 'zeros');
  return { op: 'convtranspose2d', key, inChannels, outChannels, kernel, stride, padding, outputPadding, dilation, groups, bias: r.bool('bias', true) };
}

function resolveUpsample(r: FieldReader, key: string): ResolvedUpsample {
  const mode = r.oneOf('mode', UPSAMPLE_MODES, 'nearest');
  const hasSize = r.has('size');
  const hasScale = r.has('scale_factor');
  if (hasSize && hasScale) r.fail('scale_factor', 'only one of size or scale_factor should be defined');
  if (!hasSize && !hasScale) r.fail('size', 'either size or scale_factor should be defined');
  if (mode === 'nearest' && r.has('align_corners')) {
    r.fail('align_corners', 'align_corners option can only be set with the interpolating modes (bilinear), as in PyTorch');
  }
  const alignCorners = r.bool('align_corners', false);
  const recompute = r.bool('recompute_scale_factor', false);
  if (hasSize) {
    if (recompute) r.fail('recompute_scale_factor', 'recompute_scale_factor is not meaningful with an explicit size');
    return { op: 'upsample', key, mode, alignCorners, size: r.pair('size', NaN), useScaleFactor: false };
  }
  const scaleFactor = r.positivePair('scale_factor');
  return { op: 'upsample', key, mode, alignCorners, scaleFactor, useScaleFactor: !recompute };
}

/** torchvision.ops.SqueezeExcitation: avgpool, fc1, activation, fc2, scale_activation under their attribute names. */
function resolveSqueezeExcitation(r: FieldReader, key: string): ResolvedChannelScale {
  r.only(SE_FIELDS);
  const inputChannels = r.int('input_channels');
  const squeezeChannels = r.int('squeeze_channels');
  const act = r.oneOf('activation', ACTIVATION_TYPES, 'ReLU');
  const scaleAct = r.oneOf('scale_activation', ACTIVATION_TYPES, 'Sigmoid');
  const children: ResolvedNode[] = [
    { op: 'adaptiveavgpool2d', key: `${key}.avgpool`, outputSize: [1, 1] },
    conv(`${key}.fc1`, inputChannels, squeezeChannels, [1, 1], { bias: true }),
    activation(`${key}.activation`, act),
    conv(`${key}.fc2`, squeezeChannels, inputChannels, [1, 1], { bias: true }),
    activation(`${key}.scale_activation`, scaleAct),
  ];
  return { op: 'channelscale', key, body: { op: 'sequence', key: `${key}.scale`, children } };
}

function resolveDepthwiseSeparable(r: FieldReader, key: string): ResolvedSequence {
  r.only(DS_FIELDS);
  const inChannels = r.int('in_channels');
  const outChannels = r.int('out_channels');
  const multiplier = r.int('depth_multiplier', 1);
  const kernel = r.pair('kernel_size', 3);
  const stride = r.pair('stride', 1);
  const dilation = r.pair('dilation', 1);
  const symmetric: [number, number] = [0, 1].map((i) => Math.floor((dilation[i]! * (kernel[i]! - 1)) / 2)) as [number, number];
  const padding = r.padding('padding', symmetric);
  if (padding === 'same' && (stride[0] > 1 || stride[1] > 1)) r.fail('padding', 'padding="same" is not supported with stride > 1, as in PyTorch');
  const paddingMode = r.oneOf('padding_mode', PADDING_MODES, 'zeros');
  const bias = r.bool('bias', false);
  const withBn = r.bool('batch_norm', true);
  const act = r.oneOf('activation', ACTIVATION_TYPES, 'ReLU');
  const pwAct = r.oneOf('pw_activation', ACTIVATION_TYPES, act);
  const mid = inChannels * multiplier;
  const children: ResolvedNode[] = [];
  const next = () => `${key}.${children.length}`;
  children.push(conv(next(), inChannels, mid, kernel, { stride, dilation, padding, paddingMode, groups: inChannels, bias }));
  if (withBn) children.push(batchNorm(next(), mid));
  if (act !== 'Identity') children.push(activation(next(), act));
  children.push(conv(next(), mid, outChannels, [1, 1], { bias }));
  if (withBn) children.push(batchNorm(next(), outChannels));
  if (pwAct !== 'Identity') children.push(activation(next(), pwAct));
  return { op: 'sequence', key, children };
}

/** Python's round(), halves to the even neighbour: torchvision's hidden_dim is int(round(inp * expand_ratio)). */
function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  if (x - floor !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

function resolveInvertedResidual(r: FieldReader, key: string): ResolvedNode {
  r.only(IR_FIELDS);
  const inChannels = r.int('in_channels');
  const outChannels = r.int('out_channels');
  const stride = r.int('stride', 1);
  if (stride !== 1 && stride !== 2) r.fail('stride', `must be 1 or 2, got ${stride}`);
  const expandRatio = r.number('expand_ratio', 6, (v) => v >= 1 && Math.round(inChannels * v) >= 1, 'a number >= 1');
  const k = r.int('kernel_size', 3);
  if (k % 2 === 0) r.fail('kernel_size', `must be odd so the block keeps its size, got ${k}`);
  const act = r.oneOf('activation', ACTIVATION_TYPES, 'ReLU6');
  const hidden = roundHalfToEven(inChannels * expandRatio);
  const body: ResolvedSequence = { op: 'sequence', key: `${key}.conv`, children: [] };
  const c = body.children;
  const at = (i: number) => `${key}.conv.${i}`;
  if (expandRatio !== 1) {
    c.push({
      op: 'sequence',
      key: at(c.length),
      children: [conv(`${at(c.length)}.0`, inChannels, hidden, [1, 1]), batchNorm(`${at(c.length)}.1`, hidden), activation(`${at(c.length)}.2`, act)],
    });
  }
  const dwKey = at(c.length);
  const pad = Math.floor((k - 1) / 2);
  c.push({
    op: 'sequence',
    key: dwKey,
    children: [
      conv(`${dwKey}.0`, hidden, hidden, [k, k], { stride: [stride, stride], padding: pad, groups: hidden }),
      batchNorm(`${dwKey}.1`, hidden),
      activation(`${dwKey}.2`, act),
    ],
  });
  c.push(conv(at(c.length), hidden, outChannels, [1, 1]));
  c.push(batchNorm(at(c.length), outChannels));
  if (stride === 1 && inChannels === outChannels) return { op: 'residual', key, body };
  return body;
}

function resolveLayer(raw: unknown, key: string, path: string, layerIndex: number, graphOps = false, depth = 0): ResolvedNode {
  if (!isObject(raw)) throw new SpecError(path, undefined, `a layer must be an object with a "type", got ${JSON.stringify(raw)}`, layerIndex);
  const r = new FieldReader(raw, path, layerIndex);
  const type = raw.type;
  if (!graphOps && typeof type === 'string' && (GRAPH_OP_TYPES as readonly string[]).includes(type)) {
    r.fail('type', `${type} takes or gives several values: it exists only in the graph form (a model with "nodes")`);
  }
  switch (type) {
    case 'Softmax':
      r.only(['dim']);
      return { op: 'softmax', key, dim: r.int('dim', undefined, -4) };
    case 'Add':
      r.only([]);
      return { op: 'add', key };
    case 'Mul':
      r.only([]);
      return { op: 'mul', key };
    case 'Concat':
      r.only(['dim']);
      return { op: 'concat', key, dim: r.int('dim', 0, -4) };
    case 'Split': {
      r.only(['split_size_or_sections', 'dim']);
      const sizes = raw.split_size_or_sections;
      let splitSize: number | number[];
      if (Array.isArray(sizes)) {
        if (sizes.length === 0 || !sizes.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DIM)) {
          r.fail('split_size_or_sections', `must be a positive integer or a non-empty list of them, got ${JSON.stringify(sizes)}`);
        }
        splitSize = sizes as number[];
      } else splitSize = r.int('split_size_or_sections');
      return { op: 'split', key, dim: r.int('dim', 0, -4), splitSize };
    }
    case 'Sequential': {
      r.only(['layers']);
      const layers = raw.layers;
      if (!Array.isArray(layers) || layers.length === 0) return r.fail('layers', 'must be a non-empty list of layers');
      if (depth >= MAX_NESTING) return r.fail('layers', `nesting too deep (limit ${MAX_NESTING} nested blocks)`);
      return {
        op: 'sequence',
        key,
        children: layers.map((child: unknown, j: number) => resolveLayer(child, `${key}.${j}`, `${path}.layers[${j}]`, layerIndex, false, depth + 1)),
      };
    }
    case 'Conv2d':
      return resolveConv(r, key);
    case 'BatchNorm2d':
      return resolveBatchNorm(r, key);
    case 'ReLU':
    case 'ReLU6':
    case 'SiLU':
    case 'Hardswish':
    case 'Hardsigmoid':
    case 'Identity':
      r.only(['inplace']);
      r.bool('inplace', false);
      return activation(key, type);
    case 'Sigmoid':
    case 'Tanh':
      r.only([]);
      return activation(key, type);
    case 'LeakyReLU': {
      r.only(['negative_slope', 'inplace']);
      r.bool('inplace', false);
      return { ...activation(key, type), negativeSlope: r.number('negative_slope', DEFAULT_NEGATIVE_SLOPE, () => true, 'a finite number') };
    }
    case 'MaxPool2d':
      r.only(['kernel_size', 'stride', 'padding', 'dilation', 'return_indices', 'ceil_mode']);
      return resolvePool2d(r, key, 'maxpool2d');
    case 'AvgPool2d':
      r.only(['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override']);
      return resolvePool2d(r, key, 'avgpool2d');
    case 'ConvTranspose2d':
      r.only(CONV_TRANSPOSE_FIELDS);
      return resolveConvTranspose(r, key);
    case 'Upsample':
      r.only(['size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor']);
      return resolveUpsample(r, key);
    case 'ChannelShuffle':
      r.only(['groups']);
      return { op: 'channelshuffle', key, groups: r.int('groups') };
    case 'SqueezeExcitation':
      return resolveSqueezeExcitation(r, key);
    case 'GELU': {
      r.only(['approximate']);
      return { ...activation(key, 'GELU'), approximate: r.oneOf('approximate', ['none', 'tanh'] as const, 'none') };
    }
    case 'Dropout':
      r.only(['p', 'inplace']);
      r.bool('inplace', false);
      return { op: 'dropout', key, p: r.number('p', 0.5, (v) => v >= 0 && v <= 1, 'a probability in [0, 1]') };
    case 'AdaptiveAvgPool2d':
      r.only(['output_size']);
      return { op: 'adaptiveavgpool2d', key, outputSize: r.pair('output_size', NaN) };
    case 'Flatten': {
      r.only(['start_dim', 'end_dim']);
      const startDim = r.int('start_dim', 1, -4);
      const endDim = r.int('end_dim', -1, -4);
      return { op: 'flatten', key, startDim, endDim };
    }
    case 'Linear':
      r.only(['in_features', 'out_features', 'bias']);
      return { op: 'linear', key, inFeatures: r.int('in_features'), outFeatures: r.int('out_features'), bias: r.bool('bias', true) };
    case 'DepthwiseSeparable':
      return resolveDepthwiseSeparable(r, key);
    case 'InvertedResidual':
      return resolveInvertedResidual(r, key);
    case 'Residual': {
      r.only(['body']);
      const body = raw.body;
      if (!Array.isArray(body) || body.length === 0) return r.fail('body', 'must be a non-empty list of layers');
      if (depth >= MAX_NESTING) return r.fail('body', `nesting too deep (limit ${MAX_NESTING} nested Residual blocks)`);
      return {
        op: 'residual',
        key,
        body: {
          op: 'sequence',
          key: `${key}.body`,
          children: body.map((child: unknown, j: number) => resolveLayer(child, `${key}.body.${j}`, `${path}.body[${j}]`, layerIndex, false, depth + 1)),
        },
      };
    }
    default:
      return r.fail('type', `unknown layer type ${JSON.stringify(type)} (known: ${LAYER_TYPES.join(', ')})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** PyTorch's output size: floor((in + pads - d*(k-1) - 1) / s) + 1. */
export function convOutputSize(input: number, kernel: number, stride: number, dilation: number, padTotal: number): number {
  return Math.floor((input + padTotal - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * PyTorch's pooling output size (pooling_output_shape): floor or, with ceil_mode, ceil of
 * (in + 2 * pad - dilation * (kernel - 1) - 1) / stride, plus 1; in ceil mode the last window
 * must start inside the input or its left padding, else it is dropped.
 */
export function poolOutputSize(input: number, kernel: number, stride: number, padding: number, dilation: number, ceilMode: boolean): number {
  const span = input + 2 * padding - dilation * (kernel - 1) - 1;
  let out = Math.floor((span + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= input + padding) out--;
  return out;
}

/** PyTorch's ConvTranspose2d output size: (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1. */
export function convTransposeOutputSize(input: number, kernel: number, stride: number, padding: number, outputPadding: number, dilation: number): number {
  return (input - 1) * stride - 2 * padding + dilation * (kernel - 1) + outputPadding + 1;
}

/** Upsample's output size: the given size, or floor(in * scale_factor) as PyTorch computes it. */
export function upsampleOutputSize(node: Pick<ResolvedUpsample, 'size' | 'scaleFactor'>, dim: 0 | 1, input: number): number {
  return node.size ? node.size[dim] : Math.floor(input * node.scaleFactor![dim]);
}

/**
 * Per-side padding [before, after] for one spatial dimension.
 * "same": PyTorch's split, the extra pixel after. "tf_same": TensorFlow's SAME, out = ceil(in / s).
 */
export function resolvePadding(padding: Padding2d, dim: 0 | 1, input: number, kernel: number, stride: number, dilation: number): [number, number] {
  if (padding === 'valid') return [0, 0];
  if (padding === 'same') {
    const total = dilation * (kernel - 1);
    const before = Math.floor(total / 2);
    return [before, total - before];
  }
  if (padding === 'tf_same') {
    const out = Math.ceil(input / stride);
    const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
    const before = Math.floor(total / 2);
    return [before, total - before];
  }
  const p = typeof padding === 'number' ? padding : padding[dim];
  return [p, p];
}

const fmt = (shape: Shape) => `[${shape.join(', ')}]`;

/** numpy's broadcast of two shapes (aligned at the right; a 1 stretches), or undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): Shape | undefined {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

function convRole(c: { inChannels: number; kernel: [number, number]; groups: number }): ConvRole {
  if (c.groups === c.inChannels && c.groups > 1) return 'depthwise';
  if (c.kernel[0] === 1 && c.kernel[1] === 1 && c.groups === 1) return 'pointwise';
  return c.groups > 1 ? 'grouped' : 'standard';
}

/** Describes a conv's kind for people: "depthwise", "depthwise (multiplier 2)", "grouped (g=4)", ... */
/**
 * A spec value for an error message, as JSON writes it, except the numbers JSON cannot write
 * (JSON.stringify prints null): a spec's `1e400` is read as Infinity, and is named so.
 */
function shown(value: unknown): string {
  const mark = '\u0000';
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `${mark}${String(v)}${mark}` : v));
  if (text === undefined) return String(value);
  const named = text.replace(/"\\u0000(-?Infinity|NaN)\\u0000"/g, '$1');
  return /Infinity/.test(named) && named !== text ? `${named} (a number beyond the float64 range, such as 1e400, reads as Infinity)` : named;
}

export function describeConv(c: { inChannels: number; outChannels: number; kernel: [number, number]; groups: number }): string {
  const role = convRole(c);
  if (role === 'depthwise') return c.outChannels === c.inChannels ? 'depthwise' : `depthwise (multiplier ${c.outChannels / c.inChannels})`;
  if (role === 'grouped') return `grouped (groups=${c.groups})`;
  return role;
}

class ShapeWalker {
  readonly leaves: LeafInfo[] = [];
  activationElements = 0;
  constructor(
    private readonly layerIndex: number,
    private readonly pathOf: (key: string) => string,
  ) {}

  private fail(node: ResolvedNode, field: string | undefined, reason: string): never {
    throw new SpecError(this.pathOf(node.key), field, reason, this.layerIndex);
  }

  /** A graph op of several inputs or outputs (Add, Mul, Concat, Split); returns every output's shape. */
  walkGraphOp(node: ResolvedAdd | ResolvedMul | ResolvedConcat | ResolvedSplit, inputs: Shape[]): Shape[] {
    const outs = this.graphOp(node, inputs);
    for (const out of outs) if (out.some((d) => !(d >= 1))) this.fail(node, undefined, `output shape ${fmt(out)} is empty for input ${fmt(inputs[0]!)}`);
    this.leaves.push({ node, layerIndex: this.layerIndex, inShape: inputs[0]!, outShape: outs[0]!, inShapes: inputs, outShapes: outs, role: this.role(node) });
    for (const out of outs) this.activationElements += elementCount(out);
    return outs;
  }

  private axis(node: ResolvedNode, dim: number, rank: number, field = 'dim'): number {
    const axis = dim < 0 ? rank + dim : dim;
    if (axis < 0 || axis >= rank) this.fail(node, field, `dim=${dim} is out of range for a ${rank}-D value`);
    return axis;
  }

  private graphOp(node: ResolvedAdd | ResolvedMul | ResolvedConcat | ResolvedSplit, inputs: Shape[]): Shape[] {
    switch (node.op) {
      case 'add':
      case 'mul': {
        if (inputs.length !== 2) this.fail(node, 'inputs', `${node.op === 'add' ? 'Add' : 'Mul'} takes 2 inputs, got ${inputs.length}`);
        const out = broadcastShapes(inputs[0]!, inputs[1]!);
        if (!out) this.fail(node, 'inputs', `shapes ${fmt(inputs[0]!)} and ${fmt(inputs[1]!)} do not broadcast`);
        return [out];
      }
      case 'concat': {
        if (inputs.length < 1) this.fail(node, 'inputs', 'Concat takes at least one input');
        const first = inputs[0]!;
        const axis = this.axis(node, node.dim, first.length);
        let total = 0;
        inputs.forEach((shape, i) => {
          if (shape.length !== first.length || shape.some((d, j) => j !== axis && d !== first[j])) {
            this.fail(node, `inputs[${i}]`, `shape ${fmt(shape)} does not match ${fmt(first)} outside dim ${node.dim}`);
          }
          total += shape[axis]!;
        });
        return [first.map((d, j) => (j === axis ? total : d))];
      }
      case 'split': {
        if (inputs.length !== 1) this.fail(node, 'inputs', `Split takes 1 input, got ${inputs.length}`);
        const input = inputs[0]!;
        const axis = this.axis(node, node.dim, input.length);
        const size = input[axis]!;
        let sections: number[];
        if (Array.isArray(node.splitSize)) {
          sections = node.splitSize;
          const sum = sections.reduce((a, b) => a + b, 0);
          if (sum !== size) this.fail(node, 'split_size_or_sections', `the sections sum to ${sum}, but dim ${node.dim} of ${fmt(input)} is ${size}`);
        } else {
          sections = [];
          for (let at = 0; at < size; at += node.splitSize) sections.push(Math.min(node.splitSize, size - at));
        }
        node.sections = sections;
        return sections.map((s) => input.map((d, j) => (j === axis ? s : d)));
      }
    }
  }

  walk(node: ResolvedNode, input: Shape): Shape {
    switch (node.op) {
      case 'sequence':
        return node.children.reduce((shape, child) => this.walk(child, shape), input);
      case 'channelscale': {
        const [n, c] = this.need4d(node, input);
        const scale = this.walk(node.body, input);
        if (scale.length !== 4 || scale[0] !== n || scale[1] !== c || scale[2] !== 1 || scale[3] !== 1) {
          this.fail(node, undefined, `the channel scale needs the body's output ${fmt(scale)} to be [${n}, ${c}, 1, 1] for its input ${fmt(input)}`);
        }
        this.activationElements += elementCount(input);
        return input;
      }
      case 'residual': {
        const out = this.walk(node.body, input);
        if (out.length !== input.length || out.some((d, i) => d !== input[i])) {
          this.fail(node, undefined, `the residual add needs the body's output ${fmt(out)} to match its input ${fmt(input)}`);
        }
        this.activationElements += elementCount(out);
        return out;
      }
      case 'add':
      case 'mul':
      case 'concat':
      case 'split':
        return this.walkGraphOp(node, [input])[0]!;
      default: {
        const out = this.leaf(node, input);
        if (out.some((d) => !(d >= 1))) this.fail(node, undefined, `output shape ${fmt(out)} is empty for input ${fmt(input)}`);
        this.leaves.push({ node, layerIndex: this.layerIndex, inShape: input, outShape: out, inShapes: [input], outShapes: [out], role: this.role(node) });
        this.activationElements += elementCount(out);
        return out;
      }
    }
  }

  private role(node: ResolvedLeaf): LeafInfo['role'] {
    switch (node.op) {
      case 'conv2d':
        return convRole(node);
      case 'batchnorm2d':
        return 'batchnorm';
      case 'activation':
        return 'activation';
      case 'adaptiveavgpool2d':
        return 'pool';
      case 'flatten':
        return 'flatten';
      case 'linear':
        return 'linear';
      case 'dropout':
        return 'dropout';
      case 'maxpool2d':
      case 'avgpool2d':
        return 'pool';
      case 'convtranspose2d':
        return convRole(node);
      case 'upsample':
        return 'upsample';
      case 'channelshuffle':
        return 'shuffle';
      case 'softmax':
        return 'softmax';
      case 'add':
      case 'mul':
        return 'elementwise';
      case 'concat':
        return 'concat';
      case 'split':
        return 'split';
    }
  }

  private need4d(node: ResolvedNode, input: Shape): [number, number, number, number] {
    if (input.length !== 4) this.fail(node, undefined, `expects a 4-D [N, C, H, W] input, got ${fmt(input)}`);
    return input as [number, number, number, number];
  }

  private leaf(node: Exclude<ResolvedLeaf, ResolvedAdd | ResolvedMul | ResolvedConcat | ResolvedSplit>, input: Shape): Shape {
    switch (node.op) {
      case 'softmax':
        this.axis(node, node.dim, input.length);
        return input;
      case 'conv2d': {
        const [n, c, h, w] = this.need4d(node, input);
        if (c !== node.inChannels) this.fail(node, 'in_channels', `in_channels=${node.inChannels} but the input has ${c} channels (shape ${fmt(input)})`);
        const sizes = [h, w];
        const pads: number[] = [];
        const out = [0, 1].map((d) => {
          const [before, after] = resolvePadding(node.padding, d as 0 | 1, sizes[d]!, node.kernel[d]!, node.stride[d]!, node.dilation[d]!);
          pads.push(before, after);
          if (node.paddingMode === 'reflect' && Math.max(before, after) >= sizes[d]!) {
            this.fail(node, 'padding', `reflect padding of ${Math.max(before, after)} needs an input larger than that, got ${sizes[d]}`);
          }
          if (node.paddingMode === 'circular' && Math.max(before, after) > sizes[d]!) {
            this.fail(node, 'padding', `circular padding of ${Math.max(before, after)} cannot exceed the input size ${sizes[d]}`);
          }
          const size = convOutputSize(sizes[d]!, node.kernel[d]!, node.stride[d]!, node.dilation[d]!, before + after);
          if (size < 1) {
            this.fail(
              node,
              'kernel_size',
              `the ${d === 0 ? 'height' : 'width'} ${sizes[d]} (padded to ${sizes[d]! + before + after}) is smaller than the dilated kernel ${node.dilation[d]! * (node.kernel[d]! - 1) + 1}`,
            );
          }
          return size;
        });
        node.pads = [pads[0]!, pads[1]!, pads[2]!, pads[3]!];
        return [n, node.outChannels, out[0]!, out[1]!];
      }
      case 'batchnorm2d': {
        const [n, c, h, w] = this.need4d(node, input);
        if (c !== node.numFeatures) this.fail(node, 'num_features', `num_features=${node.numFeatures} but the input has ${c} channels`);
        return [n, c, h, w];
      }
      case 'activation':
      case 'dropout':
        return input;
      case 'adaptiveavgpool2d': {
        const [n, c] = this.need4d(node, input);
        return [n, c, node.outputSize[0], node.outputSize[1]];
      }
      case 'flatten': {
        const rank = input.length;
        const start = node.startDim < 0 ? rank + node.startDim : node.startDim;
        const end = node.endDim < 0 ? rank + node.endDim : node.endDim;
        if (start < 0 || end >= rank || start > end)
          this.fail(node, 'start_dim', `start_dim=${node.startDim}, end_dim=${node.endDim} are out of range for ${fmt(input)}`);
        return [...input.slice(0, start), elementCount(input.slice(start, end + 1)), ...input.slice(end + 1)];
      }
      case 'linear': {
        const last = input[input.length - 1];
        if (last !== node.inFeatures)
          this.fail(node, 'in_features', `in_features=${node.inFeatures} but the input's last dimension is ${last} (shape ${fmt(input)})`);
        return [...input.slice(0, -1), node.outFeatures];
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        const [n, c, h, w] = this.need4d(node, input);
        const out = [h, w].map((size, d) => {
          const o = poolOutputSize(size, node.kernel[d]!, node.stride[d]!, node.padding[d]!, node.dilation[d]!, node.ceilMode);
          if (o < 1)
            this.fail(
              node,
              'kernel_size',
              `output size is too small: the ${d === 0 ? 'height' : 'width'} ${size} (padded to ${size + 2 * node.padding[d]!}) is smaller than the ${node.op === 'maxpool2d' ? 'dilated ' : ''}kernel ${node.dilation[d]! * (node.kernel[d]! - 1) + 1}`,
            );
          return o;
        });
        return [n, c, out[0]!, out[1]!];
      }
      case 'convtranspose2d': {
        const [n, c, h, w] = this.need4d(node, input);
        if (c !== node.inChannels) this.fail(node, 'in_channels', `in_channels=${node.inChannels} but the input has ${c} channels (shape ${fmt(input)})`);
        const out = [h, w].map((size, d) => {
          const o = convTransposeOutputSize(size, node.kernel[d]!, node.stride[d]!, node.padding[d]!, node.outputPadding[d]!, node.dilation[d]!);
          if (o < 1)
            this.fail(
              node,
              'padding',
              `the output ${d === 0 ? 'height' : 'width'} would be ${o}: padding=${node.padding.join('x')} removes more than the transposed conv makes from ${size}`,
            );
          return o;
        });
        return [n, node.outChannels, out[0]!, out[1]!];
      }
      case 'upsample': {
        const [n, c, h, w] = this.need4d(node, input);
        const out = [h, w].map((size, d) => {
          const o = upsampleOutputSize(node, d as 0 | 1, size);
          if (o < 1) this.fail(node, 'scale_factor', `the output ${d === 0 ? 'height' : 'width'} floor(${size} * ${node.scaleFactor![d]}) is 0`);
          if (o > MAX_DIM) this.fail(node, node.size ? 'size' : 'scale_factor', `the output ${d === 0 ? 'height' : 'width'} ${o} is over ${MAX_DIM}`);
          return o;
        });
        return [n, c, out[0]!, out[1]!];
      }
      case 'channelshuffle': {
        const [n, c, h, w] = this.need4d(node, input);
        if (c % node.groups !== 0) this.fail(node, 'groups', `groups=${node.groups} does not divide the input's ${c} channels`);
        return [n, c, h, w];
      }
    }
  }
}

function checkInputShape(shape: unknown): Shape {
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 1 && d <= MAX_DIM)) {
    throw new SpecError('model', 'input_shape', `must be [N, C, H, W] with positive integers, got ${shown(shape)}`, -1);
  }
  return shape as Shape;
}

/**
 * Validates a spec (the chain form with `layers` or the graph form with `nodes`), expands its
 * composites and infers every shape. Throws a {@link SpecError} naming the layer (or node), the
 * field and the reason for anything PyTorch would reject.
 */
export function resolveModel(raw: unknown, options: ResolveOptions = {}): ResolvedModel {
  if (!isObject(raw)) throw new SpecError('model', undefined, 'a model must be a JSON object with "layers" (or "nodes")', -1);
  const graph = raw.nodes !== undefined;
  const known = graph ? ['name', 'input_shape', 'nodes', 'outputs', '$schema'] : ['name', 'input_shape', 'layers', '$schema'];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw new SpecError('model', key, `is not a model field (known: ${known.filter((k) => k !== '$schema').join(', ')})`, -1);
  }
  if (raw.name !== undefined && typeof raw.name !== 'string') throw new SpecError('model', 'name', 'must be a string', -1);
  const list = graph ? raw.nodes : raw.layers;
  if (!Array.isArray(list) || list.length === 0)
    throw new SpecError('model', graph ? 'nodes' : 'layers', `must be a non-empty list of ${graph ? 'nodes' : 'layers'}`, -1);
  // The spec's own input_shape is checked even when options.inputShape overrides it: a malformed spec stays malformed.
  if (raw.input_shape !== undefined) checkInputShape(raw.input_shape);
  const inputShape = checkInputShape(options.inputShape ?? (raw.input_shape === undefined ? [1, firstInChannels(list) ?? 3, 224, 224] : raw.input_shape));

  const built = graph ? resolveGraph(list, raw.outputs, inputShape) : resolveChain(list, inputShape);
  const activationBytes = built.activationElements * 4;
  const budget = options.maxActivationBytes ?? DEFAULT_MAX_ACTIVATION_BYTES;
  if (activationBytes > budget) {
    throw new SpecError(
      'model',
      'input_shape',
      `the activations would need ${formatBytes(activationBytes)} (fp32, all intermediates), over the budget of ${formatBytes(budget)}`,
      -1,
    );
  }
  const model: ResolvedModel = {
    name: typeof raw.name === 'string' ? raw.name : 'model',
    form: graph ? 'graph' : 'chain',
    inputShape,
    outputShape: built.outputShapes[0]!,
    outputs: built.outputs,
    ...(graph && raw.outputs !== undefined ? { outputNames: raw.outputs as string[] } : {}),
    layers: built.layers,
    leaves: built.leaves,
    activationBytes,
  };
  checkParameterBytes(model, options.maxParameterBytes ?? DEFAULT_MAX_PARAMETER_BYTES);
  return model;
}

interface Built {
  layers: ResolvedLayer[];
  leaves: LeafInfo[];
  outputs: ValueRef[];
  outputShapes: Shape[];
  activationElements: number;
}

function resolveChain(list: unknown[], inputShape: Shape): Built {
  const layers: ResolvedLayer[] = [];
  const leaves: LeafInfo[] = [];
  let activationElements = elementCount(inputShape);
  let shape = inputShape;
  list.forEach((layer: unknown, index: number) => {
    const path = `layers[${index}]`;
    const key = String(index);
    const node = resolveLayer(layer, key, path, index);
    const walker = new ShapeWalker(index, (k) => (k === key ? path : `${path}.${k.slice(key.length + 1)}`));
    const outShape = walker.walk(node, shape);
    layers.push({ index, spec: layer as LayerSpec, node, key, inputs: [{ layer: index - 1, output: 0 }], inShape: shape, outShape, outShapes: [outShape] });
    leaves.push(...walker.leaves);
    activationElements += walker.activationElements;
    shape = outShape;
  });
  return { layers, leaves, outputs: [{ layer: list.length - 1, output: 0 }], outputShapes: [shape], activationElements };
}

function resolveGraph(list: unknown[], rawOutputs: unknown, inputShape: Shape): Built {
  const layers: ResolvedLayer[] = [];
  const leaves: LeafInfo[] = [];
  let activationElements = elementCount(inputShape);
  const byName = new Map<string, number>();
  const shapeOf = (ref: ValueRef): Shape => (ref.layer < 0 ? inputShape : layers[ref.layer]!.outShapes[ref.output]!);
  /** Resolves "input", "<node>" or "<node>:<i>" against the nodes before `index`. */
  const lookup = (name: unknown, fail: (reason: string) => never): ValueRef => {
    if (typeof name !== 'string') return fail(`must be a value name, got ${JSON.stringify(name)}`);
    if (name === 'input') return { layer: -1, output: 0 };
    const colon = name.lastIndexOf(':');
    const node = colon < 0 ? name : name.slice(0, colon);
    const at = byName.get(node);
    if (at === undefined) return fail(`unknown value ${JSON.stringify(name)} (an earlier node's name, "<node>:<i>", or "input")`);
    const count = layers[at]!.outShapes.length;
    if (colon < 0) {
      if (count !== 1) return fail(`${JSON.stringify(node)} has ${count} outputs: name one as "${node}:0" .. "${node}:${count - 1}"`);
      return { layer: at, output: 0 };
    }
    const index = Number(name.slice(colon + 1));
    if (!/^\d+$/.test(name.slice(colon + 1)) || index >= count)
      return fail(`${JSON.stringify(node)} has ${count} output(s), no ${JSON.stringify(name.slice(colon + 1))}`);
    return { layer: at, output: index };
  };
  list.forEach((raw: unknown, index: number) => {
    const where = `nodes[${index}]`;
    if (!isObject(raw))
      throw new SpecError(where, undefined, `a node must be an object with a "type", a "name" and "inputs", got ${JSON.stringify(raw)}`, index);
    const name = raw.name;
    if (typeof name !== 'string' || !NODE_NAME_PATTERN.test(name)) {
      throw new SpecError(where, 'name', `must be a name like "features.0" (letters, digits, _ and dots), got ${JSON.stringify(name)}`, index);
    }
    if (name === 'input') throw new SpecError(where, 'name', '"input" names the model input', index);
    if (byName.has(name)) throw new SpecError(where, 'name', `${JSON.stringify(name)} is already the name of nodes[${byName.get(name)}]`, index);
    const path = `${where} (${name})`;
    const fail =
      (field: string) =>
      (reason: string): never => {
        throw new SpecError(path, field, reason, index);
      };
    if (!Array.isArray(raw.inputs) || raw.inputs.length === 0) fail('inputs')('must be a non-empty list of value names');
    const inputs = (raw.inputs as unknown[]).map((input, i) => lookup(input, fail(`inputs[${i}]`)));
    const { name: _name, inputs: _inputs, ...layerSpec } = raw;
    const node = resolveLayer(layerSpec, name, path, index, true);
    const walker = new ShapeWalker(index, (k) => (k === name ? path : `${path}.${k.slice(name.length + 1)}`));
    const inShapes = inputs.map(shapeOf);
    let outShapes: Shape[];
    if (node.op === 'add' || node.op === 'mul' || node.op === 'concat' || node.op === 'split') outShapes = walker.walkGraphOp(node, inShapes);
    else {
      if (inputs.length !== 1) fail('inputs')(`${String(raw.type)} takes one input, got ${inputs.length}`);
      outShapes = [walker.walk(node, inShapes[0]!)];
    }
    layers.push({ index, spec: raw as unknown as LayerSpec, node, key: name, inputs, inShape: inShapes[0]!, outShape: outShapes[0]!, outShapes });
    leaves.push(...walker.leaves);
    activationElements += walker.activationElements;
    byName.set(name, index);
  });
  let outputs: ValueRef[];
  if (rawOutputs === undefined) {
    const last = layers[layers.length - 1]!;
    if (last.outShapes.length !== 1)
      throw new SpecError('model', 'outputs', `the last node, ${JSON.stringify(last.key)}, has ${last.outShapes.length} outputs: list the model's outputs`, -1);
    outputs = [{ layer: last.index, output: 0 }];
  } else {
    if (!Array.isArray(rawOutputs) || rawOutputs.length === 0) throw new SpecError('model', 'outputs', 'must be a non-empty list of value names', -1);
    outputs = rawOutputs.map((name, i) =>
      lookup(name, (reason) => {
        throw new SpecError('model', `outputs[${i}]`, reason, -1);
      }),
    );
  }
  return { layers, leaves, outputs, outputShapes: outputs.map(shapeOf), activationElements };
}

/** Refuses a model whose fp32 weights would not fit the budget, naming the largest tensor. */
function checkParameterBytes(model: ResolvedModel, budget: number): void {
  let bytes = 0;
  let largest: TensorSpec | undefined;
  let largestBytes = 0;
  for (const tensor of parameterShapes(model)) {
    const tensorBytes = elementCount(tensor.shape) * 4;
    bytes += tensorBytes;
    if (tensorBytes > largestBytes) {
      largest = tensor;
      largestBytes = tensorBytes;
    }
  }
  if (bytes > budget) {
    throw new SpecError(
      'model',
      'layers',
      `the weights would need ${formatBytes(bytes)} (fp32; the largest, ${largest!.key} ${fmt(largest!.shape)}, ${formatBytes(largestBytes)}), over the budget of ${formatBytes(budget)}`,
      -1,
    );
  }
}

function firstInChannels(layers: unknown[]): number | undefined {
  let list = layers;
  // A loop, not recursion: the spec has not been checked yet, and its nesting may be any depth.
  for (let depth = 0; depth <= MAX_NESTING; depth++) {
    const first = list[0];
    if (!isObject(first)) return undefined;
    if (typeof first.in_channels === 'number') return first.in_channels;
    if (typeof first.num_features === 'number') return first.num_features;
    if (typeof first.input_channels === 'number') return first.input_channels;
    if (first.type === 'Residual' && Array.isArray(first.body)) list = first.body;
    else if (first.type === 'Sequential' && Array.isArray(first.layers)) list = first.layers;
    else return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Parameters: the state_dict a model expects

export interface TensorSpec {
  key: string;
  shape: number[];
  /** 'param' are trainable parameters; 'buffer' are BN running stats. */
  kind: 'param' | 'buffer';
}

/** Every state_dict entry the model's weights must provide (num_batches_tracked is not needed). */
export function parameterShapes(model: ResolvedModel): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const { node } of model.leaves) {
    switch (node.op) {
      case 'conv2d':
        out.push({ key: `${node.key}.weight`, shape: [node.outChannels, node.inChannels / node.groups, node.kernel[0], node.kernel[1]], kind: 'param' });
        if (node.bias) out.push({ key: `${node.key}.bias`, shape: [node.outChannels], kind: 'param' });
        break;
      case 'batchnorm2d':
        if (node.affine) {
          out.push({ key: `${node.key}.weight`, shape: [node.numFeatures], kind: 'param' });
          out.push({ key: `${node.key}.bias`, shape: [node.numFeatures], kind: 'param' });
        }
        if (node.trackRunningStats) {
          out.push({ key: `${node.key}.running_mean`, shape: [node.numFeatures], kind: 'buffer' });
          out.push({ key: `${node.key}.running_var`, shape: [node.numFeatures], kind: 'buffer' });
        }
        break;
      case 'linear':
        out.push({ key: `${node.key}.weight`, shape: [node.outFeatures, node.inFeatures], kind: 'param' });
        if (node.bias) out.push({ key: `${node.key}.bias`, shape: [node.outFeatures], kind: 'param' });
        break;
      case 'convtranspose2d':
        out.push({ key: `${node.key}.weight`, shape: [node.inChannels, node.outChannels / node.groups, node.kernel[0], node.kernel[1]], kind: 'param' });
        if (node.bias) out.push({ key: `${node.key}.bias`, shape: [node.outChannels], kind: 'param' });
        break;
      default:
        break;
    }
  }
  return out;
}

/** Every primitive node of a resolved tree, depth first. */
export function* walkNodes(node: ResolvedNode): Generator<ResolvedNode> {
  yield node;
  if (node.op === 'sequence') for (const child of node.children) yield* walkNodes(child);
  else if (node.op === 'residual' || node.op === 'channelscale') yield* walkNodes(node.body);
}

/** The name of a value as the graph form writes it: "input", "<node>" or "<node>:<i>". */
export function valueName(model: ResolvedModel, ref: ValueRef): string {
  if (ref.layer < 0) return 'input';
  const layer = model.layers[ref.layer]!;
  return layer.outShapes.length > 1 ? `${layer.key}:${ref.output}` : layer.key;
}
