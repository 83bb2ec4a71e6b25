/**
 * Turns the layers read from code into model-spec layers, propagates shapes through the
 * containers that chain them, and costs them with the shared cost model (so the editor, the CLI
 * and the playground show the same numbers).
 */
import type { ActivationType, LayerSpec, ModelSpec, Shape, Padding2d } from '../shared/spec';
import { resolveModel, SpecError } from '../shared/spec';
import {
  costModel,
  emptyRoles,
  estimateConv,
  macsRole,
  sumCosts,
  type Convention,
  type Dtype,
  type Cost,
  type LeafCost,
  type MacsByRole,
  type ConvEstimate,
  type SeparablePair,
} from '../shared/cost';
import type { LayerCall, ModelCode, Container, ContainerItem, FlowExpr } from './modelCode';
import type { PyValue } from './pythonValues';
import { showValue } from './pythonValues';

export interface EstimateSettings {
  convention: Convention;
  dtype: Dtype;
  /** [H, W] used where the input size cannot be read from the code. */
  defaultInputSize: [number, number];
}

export const DEFAULT_SETTINGS: EstimateSettings = { convention: 'torchinfo', dtype: 'fp32', defaultInputSize: [224, 224] };

/** `forward`: propagated through an nn.Module's forward() from its first layer's in_channels at the default size. */
export type InputSource = 'propagated' | 'forward' | 'declared' | 'default';

export interface LayerEstimate {
  /** Arguments that could not be resolved, as "name = text". */
  unresolved: string[];
  /** The layer as model-spec layers (a Keras SeparableConv2D is two convs); undefined if unresolved or not representable. */
  specs?: LayerSpec[];
  inShape?: Shape;
  inputSource?: InputSource;
  outShape?: Shape;
  /** Sum over the layer's leaves. */
  cost?: Cost;
  leaves?: LeafCost[];
  /** A single conv: kind, weight shape and the separable replacement of a standard conv. */
  conv?: ConvEstimate;
  /** A Keras SeparableConv2D: the standard conv it replaces. */
  pair?: SeparablePair;
  /** Why PyTorch / Keras would reject the layer at this input (from the spec validation). */
  error?: string;
  /** Why the input size is the default one although the layer belongs to an nn.Module. */
  note?: string;
}

export interface ContainerEstimate {
  /** Every recognised layer was costed. */
  complete: boolean;
  layerCount: number;
  costedCount: number;
  total: Cost & { macsByRole: MacsByRole };
  /** The container as a model spec, when every item is representable and resolved. */
  model?: ModelSpec;
  inputShape?: Shape;
  /** nn.Module: shapes followed through forward() (true), or why not (each layer at the default size). */
  forward?: true | string;
}

export interface CodeEstimates {
  layers: LayerEstimate[];
  containers: ContainerEstimate[];
}

// ---------------------------------------------------------------------------------------------
// Values

const int = (v: PyValue | undefined): number | undefined => (v?.kind === 'int' ? v.value : undefined);
function intOrPair(v: PyValue | undefined): number | [number, number] | undefined {
  if (v?.kind === 'int') return v.value;
  if (v?.kind === 'tuple' && v.items.length === 2 && v.items.every((i) => i.kind === 'int')) return [int(v.items[0])!, int(v.items[1])!];
  return undefined;
}
const pairOf = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

const KERAS_ACTIVATIONS: Record<string, ActivationType | null> = {
  relu: 'ReLU',
  relu6: 'ReLU6',
  swish: 'SiLU',
  silu: 'SiLU',
  hard_swish: 'Hardswish',
  hard_silu: 'Hardswish',
  gelu: 'GELU',
  linear: null,
};
const TORCH_ACTIVATIONS = new Set(['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'GELU', 'Identity', 'Hardsigmoid', 'Sigmoid', 'Tanh', 'LeakyReLU']);
/** Layers that keep the shape and that the spec has no type for: shapes go through, nothing is counted. */
const SHAPE_PRESERVING = new Set(['Dropout2d', 'ELU', 'Mish', 'PReLU', 'Softplus']);

interface Reading {
  specs?: LayerSpec[];
  unresolved: string[];
  /** For layers without a spec type that still have a known output shape (pools, elementwise). */
  shapeOnly?: (input: Shape) => Shape | undefined;
  /** The spec cannot express this layer, though it is resolved. */
  unrepresentable?: string;
  /** An argument PyTorch would refuse when the layer is built (a negative channel count). */
  error?: string;
}

class ArgReader {
  readonly unresolved: string[] = [];
  constructor(private readonly call: LayerCall) {}

  value(name: string): PyValue | undefined {
    const arg = this.call.args[name];
    if (!arg) {
      if (this.call.hasSplat) this.unresolved.push(`${name} = (from *args/**kwargs)`);
      return undefined;
    }
    return arg.value;
  }

  private fail(name: string): undefined {
    const arg = this.call.args[name];
    const float = arg?.value.kind === 'float' || (arg?.value.kind === 'tuple' && arg.value.items.some((i) => i.kind === 'float'));
    this.unresolved.push(`${name} = ${arg ? showValue(arg.value) : '(missing)'}${float ? ' (a float where an int is needed)' : ''}`);
    return undefined;
  }

  /** A channel count: an int, at least 1 (PyTorch cannot make a weight with a negative dimension). */
  channels(name: string): number | undefined {
    const n = this.int(name, true);
    if (n !== undefined && n < 1) this.error ??= `${name} must be >= 1, got ${n}`;
    return n;
  }

  error: string | undefined;

  int(name: string, required = false): number | undefined {
    const v = this.value(name);
    if (v === undefined) return required ? this.fail(name) : undefined;
    return int(v) ?? this.fail(name);
  }

  pair(name: string, required = false): number | [number, number] | undefined {
    const v = this.value(name);
    if (v === undefined) return required ? this.fail(name) : undefined;
    return intOrPair(v) ?? this.fail(name);
  }

  bool(name: string): boolean | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    return v.kind === 'bool' ? v.value : this.fail(name);
  }

  str(name: string): string | undefined {
    const v = this.value(name);
    if (v === undefined || v.kind === 'none') return undefined;
    return v.kind === 'str' ? v.value : this.fail(name);
  }

  number(name: string): number | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    return v.kind === 'int' || v.kind === 'float' ? v.value : this.fail(name);
  }

  padding(name: string): Padding2d | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    if (v.kind === 'str' && (v.value === 'same' || v.value === 'valid')) return v.value;
    return intOrPair(v) ?? this.fail(name);
  }
}

function drop<T extends object>(o: T): T {
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] === undefined) delete o[key];
  return o;
}

/** The spec layers of a call, given the channels of its input where known (Keras needs them). */
export function readLayer(call: LayerCall, inChannels: number | undefined): Reading {
  const r = new ArgReader(call);
  const done = (specs: LayerSpec[] | undefined, extra: Partial<Reading> = {}): Reading => ({
    specs: r.unresolved.length ? undefined : specs,
    unresolved: r.unresolved,
    error: r.error,
    ...extra,
  });
  if (call.framework === 'torch') {
    switch (call.type) {
      case 'Conv2d': {
        const conv = drop({
          type: 'Conv2d' as const,
          in_channels: r.channels('in_channels')!,
          out_channels: r.channels('out_channels')!,
          kernel_size: r.pair('kernel_size', true)!,
          stride: r.pair('stride'),
          padding: r.padding('padding'),
          dilation: r.pair('dilation'),
          groups: r.int('groups'),
          bias: r.bool('bias'),
          padding_mode: r.str('padding_mode') as 'zeros' | undefined,
        });
        return done([conv]);
      }
      case 'BatchNorm2d':
        return done([
          drop({
            type: 'BatchNorm2d' as const,
            num_features: r.channels('num_features')!,
            eps: r.number('eps'),
            momentum: r.number('momentum'),
            affine: r.bool('affine'),
            track_running_stats: r.bool('track_running_stats'),
          }),
        ]);
      case 'Dropout':
        return done([drop({ type: 'Dropout' as const, p: r.number('p') })]);
      case 'AdaptiveAvgPool2d':
        return done([{ type: 'AdaptiveAvgPool2d', output_size: r.pair('output_size', true)! }]);
      case 'Flatten':
        return done([drop({ type: 'Flatten' as const, start_dim: r.int('start_dim'), end_dim: r.int('end_dim') })]);
      case 'Linear':
        return done([
          drop({ type: 'Linear' as const, in_features: r.channels('in_features')!, out_features: r.channels('out_features')!, bias: r.bool('bias') }),
        ]);
      case 'MaxPool2d':
        return done([
          drop({
            type: 'MaxPool2d' as const,
            kernel_size: r.pair('kernel_size', true)!,
            stride: r.value('stride')?.kind === 'none' ? undefined : r.pair('stride'),
            padding: r.pair('padding'),
            dilation: r.pair('dilation'),
            return_indices: r.bool('return_indices'),
            ceil_mode: r.bool('ceil_mode'),
          }),
        ]);
      case 'AvgPool2d':
        return done([
          drop({
            type: 'AvgPool2d' as const,
            kernel_size: r.pair('kernel_size', true)!,
            stride: r.value('stride')?.kind === 'none' ? undefined : r.pair('stride'),
            padding: r.pair('padding'),
            ceil_mode: r.bool('ceil_mode'),
            count_include_pad: r.bool('count_include_pad'),
            divisor_override: r.value('divisor_override')?.kind === 'none' ? undefined : r.int('divisor_override'),
          }),
        ]);
      case 'ConvTranspose2d':
        return done([
          drop({
            type: 'ConvTranspose2d' as const,
            in_channels: r.int('in_channels', true)!,
            out_channels: r.int('out_channels', true)!,
            kernel_size: r.pair('kernel_size', true)!,
            stride: r.pair('stride'),
            padding: r.pair('padding'),
            output_padding: r.pair('output_padding'),
            groups: r.int('groups'),
            bias: r.bool('bias'),
            dilation: r.pair('dilation'),
            padding_mode: r.str('padding_mode') as 'zeros' | undefined,
          }),
        ]);
      case 'Upsample': {
        const scale = r.value('scale_factor');
        let scaleFactor: number | [number, number] | undefined;
        if (scale?.kind === 'tuple') {
          const items = scale.items.map((v) => (v.kind === 'int' || v.kind === 'float' ? v.value : undefined));
          if (items.length === 2 && items.every((v) => v !== undefined)) scaleFactor = items as [number, number];
          else r.unresolved.push(`scale_factor = ${showValue(scale)}`);
        } else if (scale?.kind !== 'none') scaleFactor = r.number('scale_factor');
        return done([
          drop({
            type: 'Upsample' as const,
            size: r.value('size')?.kind === 'none' ? undefined : r.pair('size'),
            scale_factor: scaleFactor,
            mode: r.str('mode') as 'nearest' | undefined,
            align_corners: r.value('align_corners')?.kind === 'none' ? undefined : r.bool('align_corners'),
            recompute_scale_factor: r.value('recompute_scale_factor')?.kind === 'none' ? undefined : r.bool('recompute_scale_factor'),
          }),
        ]);
      }
      case 'ChannelShuffle':
        return done([{ type: 'ChannelShuffle', groups: r.int('groups', true)! }]);
      case 'SqueezeExcitation': {
        // An activation class as written: `nn.Hardsigmoid`, `torch.nn.SiLU`, `ReLU`.
        const activationClass = (name: string): ActivationType | undefined => {
          const v = r.value(name);
          if (v === undefined) return undefined;
          const last = v.kind === 'symbol' ? v.text.split('.').pop()! : '';
          if (TORCH_ACTIVATIONS.has(last)) return last as ActivationType;
          r.unresolved.push(`${name} = ${showValue(v)}`);
          return undefined;
        };
        return done([
          drop({
            type: 'SqueezeExcitation' as const,
            input_channels: r.int('input_channels', true)!,
            squeeze_channels: r.int('squeeze_channels', true)!,
            activation: activationClass('activation'),
            scale_activation: activationClass('scale_activation'),
          }),
        ]);
      }
      default:
        if (TORCH_ACTIVATIONS.has(call.type)) {
          const approximate = call.type === 'GELU' ? r.str('approximate') : undefined;
          const negativeSlope = call.type === 'LeakyReLU' ? r.number('negative_slope') : undefined;
          return done([drop({ type: call.type as ActivationType, approximate: approximate as 'tanh' | undefined, negative_slope: negativeSlope })]);
        }
        if (SHAPE_PRESERVING.has(call.type)) return { unresolved: [], unrepresentable: call.type, shapeOnly: (input) => input };
        return { unresolved: [], unrepresentable: call.type };
    }
  }
  // Keras: channels last, in-channels from the input.
  const dataFormat = r.str('data_format');
  if (dataFormat && dataFormat !== 'channels_last') return { unresolved: [`data_format = '${dataFormat}' (only channels_last is read)`] };
  const padding = (): Padding2d | undefined => {
    const p = r.str('padding');
    if (p === undefined) return 0;
    if (p === 'valid') return 0;
    if (p === 'same') return 'tf_same';
    r.unresolved.push(`padding = '${p}'`);
    return undefined;
  };
  const activation = (): LayerSpec[] | undefined => {
    const name = r.str('activation');
    if (name === undefined) return [];
    const type = KERAS_ACTIVATIONS[name];
    if (type === undefined) return undefined;
    return type ? [{ type }] : [];
  };
  const needChannels = (): number | undefined => {
    if (inChannels === undefined) r.unresolved.push('input channels (unknown: give the model an Input(shape=...) or input_shape=...)');
    return inChannels;
  };
  switch (call.type) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      const filters = call.type === 'DepthwiseConv2D' ? undefined : r.int('filters', true);
      const kernel = r.pair('kernel_size', true);
      const stride = r.pair('strides');
      const pad = padding();
      const dilation = r.pair('dilation_rate');
      const groups = call.type === 'Conv2D' ? r.int('groups') : undefined;
      const multiplier = call.type === 'Conv2D' ? 1 : (r.int('depth_multiplier') ?? 1);
      const bias = r.bool('use_bias') ?? true;
      const act = activation();
      const c = needChannels();
      if (r.unresolved.length || c === undefined || kernel === undefined) return { unresolved: r.unresolved };
      const common = { kernel_size: kernel, stride, padding: pad, dilation };
      let specs: LayerSpec[];
      if (call.type === 'Conv2D') specs = [drop({ type: 'Conv2d' as const, in_channels: c, out_channels: filters!, ...common, groups, bias })];
      else if (call.type === 'DepthwiseConv2D')
        specs = [drop({ type: 'Conv2d' as const, in_channels: c, out_channels: c * multiplier, ...common, groups: c, bias })];
      else
        specs = [
          drop({ type: 'Conv2d' as const, in_channels: c, out_channels: c * multiplier, ...common, groups: c, bias: false }),
          { type: 'Conv2d', in_channels: c * multiplier, out_channels: filters!, kernel_size: 1, bias },
        ];
      if (!act) return { specs, unresolved: [], unrepresentable: `activation '${r.str('activation')}'` };
      return { specs: [...specs, ...act], unresolved: [] };
    }
    case 'BatchNormalization': {
      const eps = r.number('epsilon') ?? 1e-3;
      const center = r.bool('center') ?? true;
      const scale = r.bool('scale') ?? true;
      const axis = r.int('axis');
      const c = needChannels();
      if (axis !== undefined && axis !== -1 && axis !== 3) return { unresolved: [`axis = ${axis}`] };
      if (center !== scale) return { unresolved: [], unrepresentable: 'BatchNormalization with only one of center/scale', shapeOnly: (i) => i };
      return done(c === undefined ? undefined : [{ type: 'BatchNorm2d', num_features: c, eps, affine: center }]);
    }
    case 'ReLU': {
      const max = r.number('max_value');
      const slope = r.number('negative_slope') ?? 0;
      if (slope !== 0 || (max !== undefined && max !== 6))
        return { unresolved: r.unresolved, unrepresentable: 'ReLU with these arguments', shapeOnly: (i) => i };
      return done([{ type: max === 6 ? 'ReLU6' : 'ReLU' }]);
    }
    case 'Activation': {
      const act = activation();
      if (!act) return { unresolved: r.unresolved, unrepresentable: `activation '${r.str('activation')}'`, shapeOnly: (i) => i };
      return done(act.length ? act : [{ type: 'Identity' }]);
    }
    case 'Dropout':
      return done([drop({ type: 'Dropout' as const, p: r.number('rate') })]);
    case 'Flatten':
      return done([{ type: 'Flatten' }]);
    case 'GlobalAveragePooling2D':
      if (r.bool('keepdims')) return done([{ type: 'AdaptiveAvgPool2d', output_size: 1 }]);
      return done([{ type: 'AdaptiveAvgPool2d', output_size: 1 }, { type: 'Flatten' }]);
    case 'Dense': {
      const units = r.int('units', true);
      const act = activation();
      const bias = r.bool('use_bias') ?? true;
      if (units === undefined || r.unresolved.length) return { unresolved: r.unresolved };
      if (inChannels === undefined) return { unresolved: ['input features (unknown)'] };
      if (!act) return { unresolved: [], unrepresentable: 'activation' };
      return { specs: [{ type: 'Linear', in_features: inChannels, out_features: units, bias }, ...act], unresolved: [] };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const size = r.pair('pool_size') ?? 2;
      const strideValue = r.value('strides');
      const stride = strideValue === undefined || strideValue.kind === 'none' ? size : r.pair('strides');
      const p = r.str('padding') ?? 'valid';
      if (r.unresolved.length || stride === undefined) return { unresolved: r.unresolved };
      return {
        unresolved: [],
        unrepresentable: call.type,
        shapeOnly: (input) => {
          if (input.length !== 4) return undefined;
          const [kh, kw] = pairOf(size);
          const [sh, sw] = pairOf(stride);
          const out =
            p === 'same'
              ? [Math.ceil(input[2]! / sh), Math.ceil(input[3]! / sw)]
              : [Math.floor((input[2]! - kh) / sh) + 1, Math.floor((input[3]! - kw) / sw) + 1];
          return out.every((d) => d >= 1) ? [input[0]!, input[1]!, out[0]!, out[1]!] : undefined;
        },
      };
    }
    default:
      return { unresolved: [], unrepresentable: call.type };
  }
}

// ---------------------------------------------------------------------------------------------
// Costs

function zeroCost(): Cost & { macsByRole: MacsByRole } {
  return { ...sumCosts([]), macsByRole: emptyRoles() };
}

/** Channels of the input a layer expects, read from its own arguments (PyTorch layers know it). */
function ownInChannels(call: LayerCall): number | undefined {
  if (call.framework !== 'torch') return undefined;
  const name = call.type === 'Conv2d' ? 'in_channels' : call.type === 'BatchNorm2d' ? 'num_features' : undefined;
  return name ? int(call.args[name]?.value) : undefined;
}

class Estimator {
  readonly layers: LayerEstimate[];
  readonly containers: ContainerEstimate[] = [];
  private readonly readings = new Map<number, Reading>();

  constructor(
    private readonly code: ModelCode,
    private readonly settings: EstimateSettings,
  ) {
    this.layers = code.calls.map(() => ({ unresolved: [] }));
  }

  run(): CodeEstimates {
    this.code.containers.forEach((container, index) => {
      if (container.parent === undefined) this.container(index, undefined, undefined);
    });
    return this.finish();
  }

  /** Only the outermost Sequentials, each from its own first layer (what the playground opens). */
  runSequentials(): CodeEstimates {
    const chained = (kind: string | undefined) => kind === 'torch-sequential' || kind === 'keras-sequential';
    this.code.containers.forEach((container, index) => {
      const parent = container.parent === undefined ? undefined : this.code.containers[container.parent];
      if (chained(container.kind) && !chained(parent?.kind)) this.container(index, undefined, undefined);
    });
    return { layers: this.layers, containers: this.containers };
  }

  private finish(): CodeEstimates {
    // Layers that no container gave an input: the default input size.
    this.layers.forEach((estimate, index) => {
      if (!estimate.inShape && !estimate.error) this.layer(index, this.defaultInput(index), 'default');
    });
    return { layers: this.layers, containers: this.containers };
  }

  /** The call's own input at the default size ([1, C, H, W] from its own in-channels), if it names them. */
  private defaultInput(index: number): Shape | undefined {
    const c = ownInChannels(this.code.calls[index]!);
    const [h, w] = this.settings.defaultInputSize;
    return c === undefined ? undefined : [1, c, h, w];
  }

  private reading(index: number, inChannels: number | undefined): Reading {
    const call = this.code.calls[index]!;
    if (call.framework === 'torch') {
      let cached = this.readings.get(index);
      if (!cached) this.readings.set(index, (cached = readLayer(call, undefined)));
      return cached;
    }
    return readLayer(call, inChannels);
  }

  /** Costs one layer at `input`; returns its output shape when known. */
  private layer(index: number, input: Shape | undefined, source: InputSource): Shape | undefined {
    const reading = this.reading(index, input?.[1]);
    const estimate: LayerEstimate = { unresolved: reading.unresolved, specs: reading.specs };
    this.layers[index] = estimate;
    if (reading.error) {
      estimate.error = reading.error;
      return undefined;
    }
    if (!input) return undefined;
    if (reading.shapeOnly) {
      estimate.inShape = input;
      estimate.inputSource = source;
      estimate.outShape = reading.shapeOnly(input);
      return estimate.outShape;
    }
    if (!reading.specs) return undefined;
    estimate.inShape = input;
    estimate.inputSource = source;
    try {
      const options = { convention: this.settings.convention, dtype: this.settings.dtype };
      // After a Flatten the input is [N, F]: the spec wants 4-D, so give it [N, F, 1, 1] and a Flatten that is not counted.
      const flat = input.length === 2;
      const specs: LayerSpec[] = flat ? [{ type: 'Flatten' }, ...reading.specs] : reading.specs;
      const cost = costModel(resolveModel({ input_shape: flat ? [input[0]!, input[1]!, 1, 1] : input, layers: specs }), options);
      estimate.leaves = flat ? cost.leaves.slice(1) : cost.leaves;
      estimate.cost = flat ? sumCosts(estimate.leaves) : cost.total;
      estimate.outShape = cost.outputShape;
      const convs = reading.specs.filter((s) => s.type === 'Conv2d');
      if (convs.length === 1 && reading.specs[0]!.type === 'Conv2d') {
        const { type: _type, padding_mode: _mode, ...conv } = reading.specs[0];
        estimate.conv = estimateConv(conv, input, options);
      }
      if (convs.length === 2 && cost.pairs[0]) estimate.pair = cost.pairs[0];
      return estimate.outShape;
    } catch (error) {
      // The field named, as PyTorch names the argument: "out_channels must be >= 1, got -8".
      estimate.error =
        error instanceof SpecError
          ? error.field && !error.reason.includes(error.field)
            ? `${error.field} ${error.reason}`
            : error.reason
          : error instanceof Error
            ? error.message
            : String(error);
      return undefined;
    }
  }

  /**
   * An nn.Module whose forward() is a straight line of member calls, shape-preserving functions,
   * flattens and residual adds: its members costed in that order, from the first one's input
   * channels at the default size. Returns the module's estimate, or why the flow was not followed.
   */
  private moduleThroughForward(index: number): ContainerEstimate | string {
    const container = this.code.containers[index]!;
    const flow = container.forward;
    if (!flow || 'unsupported' in flow) return flow?.unsupported ?? 'no forward()';
    const members = container.members ?? {};
    const total = zeroCost();
    const applied = new Map<ContainerItem, LayerEstimate | ContainerEstimate>();
    let start: Shape | undefined;
    const startOf = (item: ContainerItem): Shape | undefined => {
      if (item.kind === 'layer') return this.defaultInput(item.call);
      return item.kind === 'container' ? this.startShape(this.code.containers[item.container]!)?.shape : undefined;
    };
    const env = new Map<string, Shape | 'input'>([[flow.input, 'input']]);
    /** The module's input once the first layer has said what it is (a residual add may name it later). */
    const known = (v: Shape | 'input'): Shape => {
      if (v !== 'input') return v;
      if (!start) throw new Error('forward() uses its input before any layer');
      return start;
    };
    const evaluate = (e: FlowExpr): Shape | 'input' => {
      switch (e.kind) {
        case 'var': {
          const v = env.get(e.name);
          if (!v) throw new Error(`\`${e.name}\` is not known in forward()`);
          return v;
        }
        case 'same':
          return evaluate(e.arg);
        case 'flatten': {
          const v = known(evaluate(e.arg));
          return [v[0]!, v.slice(1).reduce((a, b) => a * b, 1)];
        }
        case 'add': {
          const a = known(evaluate(e.left));
          const b = known(evaluate(e.right));
          if (a.join() !== b.join()) throw new Error(`a residual add of different shapes (${a.join('×')} + ${b.join('×')})`);
          return a;
        }
        case 'apply': {
          const item = members[e.member]!;
          let input = evaluate(e.arg);
          let source: InputSource = 'forward';
          if (input === 'input') {
            start ??= startOf(item);
            if (!start) throw new Error(`the input channels of self.${e.member} are unknown`);
            input = start;
            source = 'default';
          }
          let out: Shape | undefined;
          let cost: Cost & { macsByRole: MacsByRole };
          if (item.kind === 'layer') {
            const before = applied.get(item) as LayerEstimate | undefined;
            out = this.layer(item.call, input, source);
            const estimate = this.layers[item.call]!;
            cost = estimate.cost && estimate.leaves ? { ...estimate.cost, macsByRole: rolesOf(estimate.leaves) } : zeroCost();
            if (!out) throw new Error(`self.${e.member} could not be costed at ${input.join('×')}`);
            // A member applied twice keeps the figures of its first use; the total counts both.
            if (before) this.layers[item.call] = before;
            else applied.set(item, estimate);
          } else if (item.kind === 'container') {
            const before = applied.get(item) as ContainerEstimate | undefined;
            out = this.container(item.container, input, source === 'forward' ? 'propagated' : 'default');
            const inner = this.containers[item.container]!;
            cost = inner.total;
            if (!out || !inner.complete) throw new Error(`self.${e.member} could not be costed at ${input.join('×')}`);
            if (before) this.containers[item.container] = before;
            else applied.set(item, inner);
          } else {
            throw new Error(`self.${e.member} is not a layer`);
          }
          addCost(total, cost);
          return out;
        }
      }
    };
    try {
      for (const step of flow.steps) env.set(step.target, evaluate(step.value));
      const out = evaluate(flow.returns);
      if (out === 'input' || !start) return 'forward() applies no layer';
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    // Members forward() does not use: at the default size, as before.
    let layerCount = 0;
    let costedCount = 0;
    for (const item of container.items) {
      if (item.kind === 'layer') {
        layerCount++;
        if (!applied.has(item)) {
          this.layer(item.call, this.defaultInput(item.call), 'default');
          const estimate = this.layers[item.call]!;
          if (estimate.cost && estimate.leaves) addCost(total, { ...estimate.cost, macsByRole: rolesOf(estimate.leaves) });
        }
        const estimate = this.layers[item.call]!;
        if ((estimate.cost && estimate.leaves) || (this.reading(item.call, estimate.inShape?.[1]).shapeOnly && estimate.outShape)) costedCount++;
      } else if (item.kind === 'container') {
        if (!applied.has(item)) {
          this.container(item.container, undefined, undefined);
          addCost(total, this.containers[item.container]!.total);
        }
        layerCount += this.containers[item.container]!.layerCount;
        costedCount += this.containers[item.container]!.costedCount;
      }
    }
    return { complete: layerCount > 0 && costedCount === layerCount, layerCount, costedCount, total, inputShape: start, forward: true };
  }

  /** Propagates `input` through a container; an nn.Module follows its forward() where that is simple, else each layer is at the default size. */
  private container(index: number, input: Shape | undefined, source: InputSource | undefined): Shape | undefined {
    const container = this.code.containers[index]!;
    let note: string | undefined;
    if (container.kind === 'torch-module') {
      const through = this.moduleThroughForward(index);
      if (typeof through !== 'string') {
        this.containers[index] = through;
        return undefined;
      }
      note = through;
    }
    const chained = container.kind === 'torch-sequential' || container.kind === 'keras-sequential';
    let shape = input;
    let from: InputSource | undefined = source;
    if (!shape && chained) {
      const start = this.startShape(container);
      shape = start?.shape;
      from = start?.source;
    }
    const total = zeroCost();
    let layerCount = 0;
    let costedCount = 0;
    let representable = chained;
    const specs: LayerSpec[] = [];
    const startShape = shape;
    for (const item of container.items) {
      const itemInput = chained ? shape : undefined;
      if (item.kind === 'unknown') {
        shape = undefined;
        representable = false;
        continue;
      }
      if (item.kind === 'container') {
        shape = this.container(item.container, itemInput, item === container.items[0] ? from : 'propagated');
        const inner = this.containers[item.container]!;
        layerCount += inner.layerCount;
        costedCount += inner.costedCount;
        addCost(total, inner.total);
        if (inner.model) specs.push(...inner.model.layers);
        else representable = false;
        continue;
      }
      layerCount++;
      shape = this.layer(item.call, itemInput, item === container.items[0] ? (from ?? 'default') : 'propagated');
      let estimate = this.layers[item.call]!;
      if (!itemInput && !chained) {
        // A module member: its own input channels at the default size.
        const own = this.defaultInput(item.call);
        if (own) this.layer(item.call, own, 'default');
        estimate = this.layers[item.call]!;
      }
      const reading = this.reading(item.call, estimate.inShape?.[1]);
      if (estimate.cost && estimate.leaves) {
        costedCount++;
        addCost(total, { ...estimate.cost, macsByRole: rolesOf(estimate.leaves) });
      } else if (reading.shapeOnly && estimate.outShape) {
        costedCount++;
      }
      if (reading.specs && !reading.unrepresentable) specs.push(...reading.specs);
      else representable = false;
    }
    const estimate: ContainerEstimate = { complete: layerCount > 0 && costedCount === layerCount, layerCount, costedCount, total, inputShape: startShape };
    if (note !== undefined) {
      estimate.forward = note;
      for (const item of container.items)
        if (item.kind === 'layer' && this.layers[item.call]!.inputSource === 'default') this.layers[item.call]!.note = `forward() not followed: ${note}`;
    }
    if (representable && specs.length > 0 && startShape) {
      const model: ModelSpec = {
        name: container.name ?? (container.kind === 'keras-sequential' ? 'Sequential' : 'nn.Sequential'),
        input_shape: startShape,
        layers: specs,
      };
      try {
        resolveModel(model);
        estimate.model = model;
      } catch {
        // Not a valid model as written (e.g. channel mismatch): the diagnostics say why.
      }
    }
    this.containers[index] = estimate;
    return shape;
  }

  private startShape(container: Container): { shape: Shape; source: InputSource } | undefined {
    const [h, w] = this.settings.defaultInputSize;
    if (container.kind === 'keras-sequential') {
      const d = container.declaredInput;
      if (!d || d[1] === undefined) return undefined;
      if (d[2] !== undefined && d[3] !== undefined) return { shape: [1, d[1], d[2], d[3]], source: 'declared' };
      return { shape: [1, d[1], h, w], source: 'default' };
    }
    const first = container.items[0];
    if (first?.kind === 'layer') {
      const shape = this.defaultInput(first.call);
      return shape && { shape, source: 'default' };
    }
    if (first?.kind === 'container') return this.startShape(this.code.containers[first.container]!);
    return undefined;
  }
}

function rolesOf(leaves: LeafCost[]): MacsByRole {
  const roles = emptyRoles();
  for (const leaf of leaves) roles[macsRole(leaf.role)] += leaf.macs;
  return roles;
}

function addCost(into: Cost & { macsByRole: MacsByRole }, add: Cost & { macsByRole: MacsByRole }): void {
  Object.assign(into, sumCosts([into, add]));
  for (const key of Object.keys(add.macsByRole) as (keyof MacsByRole)[]) into.macsByRole[key] += add.macsByRole[key];
}

/** Costs every recognised layer and container of the code under the settings. */
export function estimateModelCode(code: ModelCode, settings: EstimateSettings = DEFAULT_SETTINGS): CodeEstimates {
  return new Estimator(code, settings).run();
}

/**
 * Costs only the outermost nn.Sequential / Keras Sequential containers, each from its first
 * layer's own input (their `model`: the playground's spec); other containers and layers are left
 * without estimates.
 */
export function estimateSequentials(code: ModelCode, settings: EstimateSettings = DEFAULT_SETTINGS): CodeEstimates {
  return new Estimator(code, settings).runSequentials();
}
