/**
 * The model spec: a JSON description of a network whose layers mirror PyTorch modules one to
 * one. `torch.nn.Sequential(*layers)` built from the same list has the same structure and the
 * same `state_dict()` keys. Composites (DepthwiseSeparable, InvertedResidual, Residual) expand to
 * the primitive modules with the keys of the nested modules that the PyTorch export writes.
 *
 * This module imports neither `vscode` nor the DOM.
 */
import { elementCount } from './tensor';

export type Padding2d = number | [number, number] | 'same' | 'valid' | 'tf_same';
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';
export type ActivationType = 'ReLU' | 'ReLU6' | 'SiLU' | 'Hardswish' | 'GELU' | 'Identity';
export const ACTIVATION_TYPES: readonly ActivationType[] = ['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'GELU', 'Identity'];
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
}

export interface DropoutSpec { type: 'Dropout'; p?: number; inplace?: boolean }
export interface AdaptiveAvgPool2dSpec { type: 'AdaptiveAvgPool2d'; output_size: number | [number, number] }
export interface FlattenSpec { type: 'Flatten'; start_dim?: number; end_dim?: number }
export interface LinearSpec { type: 'Linear'; in_features: number; out_features: number; bias?: boolean }

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

export type LayerSpec =
  | Conv2dSpec | BatchNorm2dSpec | ActivationSpec | DropoutSpec | AdaptiveAvgPool2dSpec | FlattenSpec | LinearSpec
  | DepthwiseSeparableSpec | InvertedResidualSpec | ResidualSpec;

export type LayerType = LayerSpec['type'];
export const LAYER_TYPES: readonly LayerType[] = [
  'Conv2d', 'BatchNorm2d', ...ACTIVATION_TYPES, 'Dropout', 'AdaptiveAvgPool2d', 'Flatten', 'Linear',
  'DepthwiseSeparable', 'InvertedResidual', 'Residual',
];

export interface ModelSpec {
  name?: string;
  /** [N, C, H, W] */
  input_shape?: number[];
  layers: LayerSpec[];
}

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

export interface ResolvedBatchNorm { op: 'batchnorm2d'; key: string; numFeatures: number; eps: number; momentum: number; affine: boolean; trackRunningStats: boolean }
export interface ResolvedActivation { op: 'activation'; key: string; fn: ActivationType; approximate: 'none' | 'tanh' }
export interface ResolvedDropout { op: 'dropout'; key: string; p: number }
export interface ResolvedPool { op: 'adaptiveavgpool2d'; key: string; outputSize: [number, number] }
export interface ResolvedFlatten { op: 'flatten'; key: string; startDim: number; endDim: number }
export interface ResolvedLinear { op: 'linear'; key: string; inFeatures: number; outFeatures: number; bias: boolean }
export interface ResolvedSequence { op: 'sequence'; key: string; children: ResolvedNode[] }
/** out = body(x) + x. */
export interface ResolvedResidual { op: 'residual'; key: string; body: ResolvedSequence }

export type ResolvedLeaf = ResolvedConv2d | ResolvedBatchNorm | ResolvedActivation | ResolvedDropout | ResolvedPool | ResolvedFlatten | ResolvedLinear;
export type ResolvedNode = ResolvedLeaf | ResolvedSequence | ResolvedResidual;

/** What a layer of the spec became, with the shapes it sees. */
export interface ResolvedLayer {
  index: number;
  spec: LayerSpec;
  node: ResolvedNode;
  inShape: Shape;
  outShape: Shape;
}

export interface ResolvedModel {
  name: string;
  inputShape: Shape;
  outputShape: Shape;
  layers: ResolvedLayer[];
  /** Every primitive module in execution order, with its shapes. */
  leaves: LeafInfo[];
  /** fp32 bytes of every activation (input, each leaf's output, residual sums). */
  activationBytes: number;
}

export interface LeafInfo {
  node: ResolvedLeaf;
  layerIndex: number;
  inShape: Shape;
  outShape: Shape;
  /** The role of a conv: what the cost model and the feature map view call it. */
  role: ConvRole | 'batchnorm' | 'activation' | 'pool' | 'flatten' | 'linear' | 'dropout';
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

// ---------------------------------------------------------------------------------------------
// Small validators

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class FieldReader {
  constructor(private readonly raw: Record<string, unknown>, readonly path: string, readonly layerIndex: number) {}

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

  pair(field: string, fallback: number, min = 1): [number, number] {
    return this.checkPair(field, this.get(field, fallback), min);
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
const DS_FIELDS = ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'depth_multiplier', 'bias', 'batch_norm', 'activation', 'pw_activation', 'padding_mode'];
const IR_FIELDS = ['in_channels', 'out_channels', 'stride', 'expand_ratio', 'kernel_size', 'activation'];

// ---------------------------------------------------------------------------------------------
// Expansion: spec -> resolved nodes (structure only; shapes come after)

function resolveConv(r: FieldReader, key: string): ResolvedConv2d {
  r.only(CONV_FIELDS);
  const inChannels = r.int('in_channels');
  const outChannels = r.int('out_channels');
  const groups = r.int('groups', 1);
  if (inChannels % groups !== 0) r.fail('groups', `groups=${groups} does not divide in_channels=${inChannels}`);
  if (outChannels % groups !== 0) r.fail('groups', `groups=${groups} does not divide out_channels=${outChannels}`);
  const kernel = r.pair('kernel_size', NaN);
  const stride = r.pair('stride', 1);
  const dilation = r.pair('dilation', 1);
  const padding = r.padding('padding', 0);
  if (padding === 'same' && (stride[0] > 1 || stride[1] > 1)) {
    r.fail('padding', `padding="same" is not supported for strided convolutions (stride=${stride.join('x')}), as in PyTorch; use "tf_same" for TensorFlow's SAME`);
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
    op: 'conv2d', key, inChannels, outChannels, kernel,
    stride: [1, 1], dilation: [1, 1], padding: 0, paddingMode: 'zeros', groups: 1, bias: false,
    ...options,
  };
}

function batchNorm(key: string, numFeatures: number): ResolvedBatchNorm {
  return { op: 'batchnorm2d', key, numFeatures, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true };
}

function activation(key: string, fn: ActivationType): ResolvedActivation {
  return { op: 'activation', key, fn, approximate: 'none' };
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
    c.push({ op: 'sequence', key: at(c.length), children: [conv(`${at(c.length)}.0`, inChannels, hidden, [1, 1]), batchNorm(`${at(c.length)}.1`, hidden), activation(`${at(c.length)}.2`, act)] });
  }
  const dwKey = at(c.length);
  const pad = Math.floor((k - 1) / 2);
  c.push({ op: 'sequence', key: dwKey, children: [conv(`${dwKey}.0`, hidden, hidden, [k, k], { stride: [stride, stride], padding: pad, groups: hidden }), batchNorm(`${dwKey}.1`, hidden), activation(`${dwKey}.2`, act)] });
  c.push(conv(at(c.length), hidden, outChannels, [1, 1]));
  c.push(batchNorm(at(c.length), outChannels));
  if (stride === 1 && inChannels === outChannels) return { op: 'residual', key, body };
  return body;
}

function resolveLayer(raw: unknown, key: string, path: string, layerIndex: number): ResolvedNode {
  if (!isObject(raw)) throw new SpecError(path, undefined, `a layer must be an object with a "type", got ${JSON.stringify(raw)}`, layerIndex);
  const r = new FieldReader(raw, path, layerIndex);
  const type = raw.type;
  switch (type) {
    case 'Conv2d': return resolveConv(r, key);
    case 'BatchNorm2d': return resolveBatchNorm(r, key);
    case 'ReLU': case 'ReLU6': case 'SiLU': case 'Hardswish': case 'Identity':
      r.only(['inplace']);
      r.bool('inplace', false);
      return activation(key, type);
    case 'GELU': {
      r.only(['approximate']);
      return { op: 'activation', key, fn: 'GELU', approximate: r.oneOf('approximate', ['none', 'tanh'] as const, 'none') };
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
    case 'DepthwiseSeparable': return resolveDepthwiseSeparable(r, key);
    case 'InvertedResidual': return resolveInvertedResidual(r, key);
    case 'Residual': {
      r.only(['body']);
      const body = raw.body;
      if (!Array.isArray(body) || body.length === 0) return r.fail('body', 'must be a non-empty list of layers');
      return {
        op: 'residual',
        key,
        body: { op: 'sequence', key: `${key}.body`, children: body.map((child: unknown, j: number) => resolveLayer(child, `${key}.body.${j}`, `${path}.body[${j}]`, layerIndex)) },
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

function convRole(c: ResolvedConv2d): ConvRole {
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
  const role = convRole(c as ResolvedConv2d);
  if (role === 'depthwise') return c.outChannels === c.inChannels ? 'depthwise' : `depthwise (multiplier ${c.outChannels / c.inChannels})`;
  if (role === 'grouped') return `grouped (groups=${c.groups})`;
  return role;
}

class ShapeWalker {
  readonly leaves: LeafInfo[] = [];
  activationElements = 0;
  constructor(private readonly layerIndex: number, private readonly pathOf: (key: string) => string) {}

  private fail(node: ResolvedNode, field: string | undefined, reason: string): never {
    throw new SpecError(this.pathOf(node.key), field, reason, this.layerIndex);
  }

  walk(node: ResolvedNode, input: Shape): Shape {
    switch (node.op) {
      case 'sequence': return node.children.reduce((shape, child) => this.walk(child, shape), input);
      case 'residual': {
        const out = this.walk(node.body, input);
        if (out.length !== input.length || out.some((d, i) => d !== input[i])) {
          this.fail(node, undefined, `the residual add needs the body's output ${fmt(out)} to match its input ${fmt(input)}`);
        }
        this.activationElements += elementCount(out);
        return out;
      }
      default: {
        const out = this.leaf(node, input);
        if (out.some((d) => !(d >= 1))) this.fail(node, undefined, `output shape ${fmt(out)} is empty for input ${fmt(input)}`);
        this.leaves.push({ node, layerIndex: this.layerIndex, inShape: input, outShape: out, role: this.role(node) });
        this.activationElements += elementCount(out);
        return out;
      }
    }
  }

  private role(node: ResolvedLeaf): LeafInfo['role'] {
    switch (node.op) {
      case 'conv2d': return convRole(node);
      case 'batchnorm2d': return 'batchnorm';
      case 'activation': return 'activation';
      case 'adaptiveavgpool2d': return 'pool';
      case 'flatten': return 'flatten';
      case 'linear': return 'linear';
      case 'dropout': return 'dropout';
    }
  }

  private need4d(node: ResolvedNode, input: Shape): [number, number, number, number] {
    if (input.length !== 4) this.fail(node, undefined, `expects a 4-D [N, C, H, W] input, got ${fmt(input)}`);
    return input as [number, number, number, number];
  }

  private leaf(node: ResolvedLeaf, input: Shape): Shape {
    switch (node.op) {
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
            this.fail(node, 'kernel_size', `the ${d === 0 ? 'height' : 'width'} ${sizes[d]} (padded to ${sizes[d]! + before + after}) is smaller than the dilated kernel ${node.dilation[d]! * (node.kernel[d]! - 1) + 1}`);
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
        if (start < 0 || end >= rank || start > end) this.fail(node, 'start_dim', `start_dim=${node.startDim}, end_dim=${node.endDim} are out of range for ${fmt(input)}`);
        return [...input.slice(0, start), elementCount(input.slice(start, end + 1)), ...input.slice(end + 1)];
      }
      case 'linear': {
        const last = input[input.length - 1];
        if (last !== node.inFeatures) this.fail(node, 'in_features', `in_features=${node.inFeatures} but the input's last dimension is ${last} (shape ${fmt(input)})`);
        return [...input.slice(0, -1), node.outFeatures];
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
 * Validates a spec, expands its composites and infers every shape. Throws a {@link SpecError}
 * naming the layer, the field and the reason for anything PyTorch would reject.
 */
export function resolveModel(raw: unknown, options: ResolveOptions = {}): ResolvedModel {
  if (!isObject(raw)) throw new SpecError('model', undefined, 'a model must be a JSON object with "layers"', -1);
  for (const key of Object.keys(raw)) {
    if (!['name', 'input_shape', 'layers', '$schema'].includes(key)) throw new SpecError('model', key, 'is not a model field (known: name, input_shape, layers)', -1);
  }
  if (raw.name !== undefined && typeof raw.name !== 'string') throw new SpecError('model', 'name', 'must be a string', -1);
  if (!Array.isArray(raw.layers) || raw.layers.length === 0) throw new SpecError('model', 'layers', 'must be a non-empty list of layers', -1);
  // The spec's own input_shape is checked even when options.inputShape overrides it: a malformed spec stays malformed.
  if (raw.input_shape !== undefined) checkInputShape(raw.input_shape);
  const inputShape = checkInputShape(options.inputShape ?? (raw.input_shape === undefined ? [1, firstInChannels(raw.layers) ?? 3, 224, 224] : raw.input_shape));

  const layers: ResolvedLayer[] = [];
  const leaves: LeafInfo[] = [];
  let activationElements = elementCount(inputShape);
  let shape = inputShape;
  raw.layers.forEach((layer: unknown, index: number) => {
    const path = `layers[${index}]`;
    const node = resolveLayer(layer, String(index), path, index);
    const walker = new ShapeWalker(index, (key) => (key === String(index) ? path : `${path}.${key.slice(String(index).length + 1)}`));
    const outShape = walker.walk(node, shape);
    layers.push({ index, spec: layer as LayerSpec, node, inShape: shape, outShape });
    leaves.push(...walker.leaves);
    activationElements += walker.activationElements;
    shape = outShape;
  });
  const activationBytes = activationElements * 4;
  const budget = options.maxActivationBytes ?? DEFAULT_MAX_ACTIVATION_BYTES;
  if (activationBytes > budget) {
    throw new SpecError('model', 'input_shape', `the activations would need ${formatBytes(activationBytes)} (fp32, all intermediates), over the budget of ${formatBytes(budget)}`, -1);
  }
  const model: ResolvedModel = { name: typeof raw.name === 'string' ? raw.name : 'model', inputShape, outputShape: shape, layers, leaves, activationBytes };
  checkParameterBytes(model, options.maxParameterBytes ?? DEFAULT_MAX_PARAMETER_BYTES);
  return model;
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
    throw new SpecError('model', 'layers', `the weights would need ${formatBytes(bytes)} (fp32; the largest, ${largest!.key} ${fmt(largest!.shape)}, ${formatBytes(largestBytes)}), over the budget of ${formatBytes(budget)}`, -1);
  }
}

function firstInChannels(layers: unknown[]): number | undefined {
  const first = layers[0];
  if (!isObject(first)) return undefined;
  if (typeof first.in_channels === 'number') return first.in_channels;
  if (typeof first.num_features === 'number') return first.num_features;
  if (first.type === 'Residual' && Array.isArray(first.body)) return firstInChannels(first.body);
  return undefined;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
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
  else if (node.op === 'residual') yield* walkNodes(node.body);
}
