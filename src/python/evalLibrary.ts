/**
 * What the model-code evaluator knows of Python's builtins and of the libraries models are built
 * with: PyTorch layers and tensor functions, torchvision's Conv2dNormActivation and
 * SqueezeExcitation, Keras layers and the functional API, math, functools.partial,
 * collections.OrderedDict / namedtuple. Layers are costed with the shared cost model when applied.
 * Anything else of a library is `unknown` ("... is not followed").
 */
import type { Node } from 'web-tree-sitter';
import { estimateConv, costModel } from '../shared/cost';
import { resolveModel, SpecError, convOutputSize, broadcastShapes, type LayerSpec, type Shape } from '../shared/spec';
import {
  type ClassDef,
  type Framework,
  type Layer,
  type LayerInstance,
  type TensorInfo,
  type Value,
  Scope,
  NONE,
  int,
  str,
  bool,
  unknown,
  tuple,
  snippet,
  num,
  hashKey,
  truthy,
  repr,
  RaiseError,
  LimitError,
  isUnknown,
  isModuleValue,
} from './evalValues';
import type { Interpreter } from './modelEvaluator';
import { isNumpyArray, numpyArray, numpyBinary, numpyCall, numpyElementwise, numpyMethod, pyRound } from './evalNumpy';

type Args = Value[];
type Kwargs = Map<string, Value>;

/** Library roots that are never looked up in the workspace. */
const LIBRARY_ROOTS = new Set([
  'torch',
  'torchvision',
  'keras',
  'tensorflow',
  'tf_keras',
  'numpy',
  'math',
  'functools',
  'collections',
  'typing',
  'typing_extensions',
  'os',
  'sys',
  're',
  'copy',
  'itertools',
  'warnings',
  'logging',
  'dataclasses',
  'abc',
  'enum',
  'timm',
  'einops',
  'json',
  'argparse',
  'pathlib',
  'time',
  'random',
  '__future__',
  'operator',
  'inspect',
  'types',
  'builtins',
]);

type Sig = [name: string, dflt?: Value][];
const I = int;
const S = str;
const B = bool;

const DROPOUT: Sig = [
  ['p', { k: 'float', v: 0.5 }],
  ['inplace', B(false)],
];

/** The batch and instance norms' arguments: affine and running statistics by default or not. */
const NORM = (byDefault: boolean): Sig => [
  ['num_features'],
  ['eps', { k: 'float', v: 1e-5 }],
  ['momentum', { k: 'float', v: 0.1 }],
  ['affine', B(byDefault)],
  ['track_running_stats', B(byDefault)],
  ['device', NONE],
  ['dtype', NONE],
];

const TORCH_LAYERS: Record<string, Sig> = {
  Conv2d: [
    ['in_channels'],
    ['out_channels'],
    ['kernel_size'],
    ['stride', I(1)],
    ['padding', I(0)],
    ['dilation', I(1)],
    ['groups', I(1)],
    ['bias', B(true)],
    ['padding_mode', S('zeros')],
    ['device', NONE],
    ['dtype', NONE],
  ],
  ConvTranspose2d: [
    ['in_channels'],
    ['out_channels'],
    ['kernel_size'],
    ['stride', I(1)],
    ['padding', I(0)],
    ['output_padding', I(0)],
    ['groups', I(1)],
    ['bias', B(true)],
    ['dilation', I(1)],
    ['padding_mode', S('zeros')],
  ],
  Linear: [['in_features'], ['out_features'], ['bias', B(true)], ['device', NONE], ['dtype', NONE]],
  BatchNorm2d: NORM(true),
  BatchNorm1d: NORM(true),
  SyncBatchNorm: [...NORM(true).slice(0, 5), ['process_group', NONE], ['device', NONE], ['dtype', NONE]],
  LayerNorm: [['normalized_shape'], ['eps', { k: 'float', v: 1e-5 }], ['elementwise_affine', B(true)], ['bias', B(true)], ['device', NONE], ['dtype', NONE]],
  GroupNorm: [['num_groups'], ['num_channels'], ['eps', { k: 'float', v: 1e-5 }], ['affine', B(true)], ['device', NONE], ['dtype', NONE]],
  PReLU: [
    ['num_parameters', I(1)],
    ['init', { k: 'float', v: 0.25 }],
    ['device', NONE],
    ['dtype', NONE],
  ],
  MaxPool2d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['dilation', I(1)], ['return_indices', B(false)], ['ceil_mode', B(false)]],
  MaxUnpool2d: [['kernel_size'], ['stride', NONE], ['padding', I(0)]],
  AvgPool2d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['ceil_mode', B(false)], ['count_include_pad', B(true)], ['divisor_override', NONE]],
  AdaptiveAvgPool2d: [['output_size']],
  AdaptiveMaxPool2d: [['output_size'], ['return_indices', B(false)]],
  MaxPool1d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['dilation', I(1)], ['return_indices', B(false)], ['ceil_mode', B(false)]],
  MaxPool3d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['dilation', I(1)], ['return_indices', B(false)], ['ceil_mode', B(false)]],
  AvgPool1d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['ceil_mode', B(false)], ['count_include_pad', B(true)]],
  AvgPool3d: [['kernel_size'], ['stride', NONE], ['padding', I(0)], ['ceil_mode', B(false)], ['count_include_pad', B(true)], ['divisor_override', NONE]],
  AdaptiveAvgPool1d: [['output_size']],
  AdaptiveMaxPool1d: [['output_size'], ['return_indices', B(false)]],
  AdaptiveAvgPool3d: [['output_size']],
  AdaptiveMaxPool3d: [['output_size'], ['return_indices', B(false)]],
  Flatten: [
    ['start_dim', I(1)],
    ['end_dim', I(-1)],
  ],
  Upsample: [
    ['size', NONE],
    ['scale_factor', NONE],
    ['mode', S('nearest')],
    ['align_corners', NONE],
    ['recompute_scale_factor', NONE],
  ],
  UpsamplingNearest2d: [
    ['size', NONE],
    ['scale_factor', NONE],
  ],
  UpsamplingBilinear2d: [
    ['size', NONE],
    ['scale_factor', NONE],
  ],
  ZeroPad2d: [['padding']],
  ReflectionPad2d: [['padding']],
  ReplicationPad2d: [['padding']],
  ConstantPad2d: [['padding'], ['value']],
  ZeroPad1d: [['padding']],
  ReflectionPad1d: [['padding']],
  ReplicationPad1d: [['padding']],
  ConstantPad1d: [['padding'], ['value']],
  ZeroPad3d: [['padding']],
  ReflectionPad3d: [['padding']],
  ReplicationPad3d: [['padding']],
  ConstantPad3d: [['padding'], ['value']],
  PixelShuffle: [['upscale_factor']],
  ChannelShuffle: [['groups']],
  Softmax: [['dim', NONE]],
  LogSoftmax: [['dim', NONE]],
  Softmax2d: [],
  // Their probability is read back in forward() (`if self.dropout.p != 0:`).
  Dropout: DROPOUT,
  Dropout1d: DROPOUT,
  Dropout2d: DROPOUT,
  AlphaDropout: DROPOUT,
};
TORCH_LAYERS.BatchNorm3d = TORCH_LAYERS.BatchNorm2d!;
for (const n of ['InstanceNorm1d', 'InstanceNorm2d', 'InstanceNorm3d']) TORCH_LAYERS[n] = NORM(false);
TORCH_LAYERS.Conv1d = TORCH_LAYERS.Conv3d = TORCH_LAYERS.Conv2d!;
TORCH_LAYERS.ConvTranspose1d = TORCH_LAYERS.ConvTranspose3d = TORCH_LAYERS.ConvTranspose2d!;

/** The convs other than Conv2d: their spatial dimensions, and whether they are transposed. */
const CONV_ND: Record<string, { dims: number; transposed: boolean }> = {
  Conv1d: { dims: 1, transposed: false },
  Conv3d: { dims: 3, transposed: false },
  ConvTranspose1d: { dims: 1, transposed: true },
  ConvTranspose2d: { dims: 2, transposed: true },
  ConvTranspose3d: { dims: 3, transposed: true },
};

/** The spatial dimensions of a PyTorch conv's input (Conv2d: 2; Conv1d: 1, ...); undefined for other layers. */
export function convSpatialDims(type: string): number | undefined {
  return type === 'Conv2d' ? 2 : CONV_ND[type]?.dims;
}

/** torch.nn layers with parameters that are not followed (recurrent, attention, embeddings, lazy layers). */
const PARAMETRIC_NOT_FOLLOWED = new Set([
  'LSTM',
  'GRU',
  'RNN',
  'LSTMCell',
  'GRUCell',
  'RNNCell',
  'MultiheadAttention',
  'Transformer',
  'TransformerEncoder',
  'TransformerDecoder',
  'TransformerEncoderLayer',
  'TransformerDecoderLayer',
  'Embedding',
  'EmbeddingBag',
  'Bilinear',
  'LazyLinear',
  'LazyConv1d',
  'LazyConv2d',
  'LazyConv3d',
  'LazyConvTranspose1d',
  'LazyConvTranspose2d',
  'LazyConvTranspose3d',
  'LazyBatchNorm1d',
  'LazyBatchNorm2d',
  'LazyBatchNorm3d',
  'LazyInstanceNorm1d',
  'LazyInstanceNorm2d',
  'LazyInstanceNorm3d',
  'RMSNorm',
  'AdaptiveLogSoftmaxWithLoss',
]);

/** Normalisations and PReLU: the shape of their input, and parameters of their own (no MACs counted, as the measurement counts none). */
const TORCH_NORMS = new Set([
  'BatchNorm1d',
  'BatchNorm3d',
  'SyncBatchNorm',
  'LayerNorm',
  'GroupNorm',
  'PReLU',
  'InstanceNorm1d',
  'InstanceNorm2d',
  'InstanceNorm3d',
]);

/** Layers that keep the shape of their input (any arguments). */
const TORCH_SAME = new Set([
  'BatchNorm3d',
  'InstanceNorm1d',
  'InstanceNorm3d',
  'ReLU',
  'ReLU6',
  'SiLU',
  'Hardswish',
  'Hardsigmoid',
  'Sigmoid',
  'Tanh',
  'GELU',
  'LeakyReLU',
  'PReLU',
  'ELU',
  'SELU',
  'CELU',
  'Mish',
  'Softplus',
  'Hardtanh',
  'Identity',
  'Dropout',
  'Dropout2d',
  'Dropout1d',
  'AlphaDropout',
  'GroupNorm',
  'LayerNorm',
  'InstanceNorm2d',
  'LocalResponseNorm',
  'Softmax',
  'LogSoftmax',
  'Softmax2d',
  'ChannelShuffle',
  'Tanhshrink',
  'Softsign',
  'LogSigmoid',
  'GLU_',
  'SyncBatchNorm',
  'BatchNorm1d',
  'StochasticDepth',
  'DropPath',
]);
const TORCH_CONTAINERS = new Set(['Sequential', 'ModuleList', 'ModuleDict']);

/** Keras' other names for its layers (keras.layers.MaxPool2D is MaxPooling2D). */
const KERAS_ALIASES: Readonly<Record<string, string>> = {
  MaxPool2D: 'MaxPooling2D',
  AvgPool2D: 'AveragePooling2D',
  GlobalAvgPool2D: 'GlobalAveragePooling2D',
  GlobalMaxPool2D: 'GlobalMaxPooling2D',
  Convolution2D: 'Conv2D',
  SeparableConvolution2D: 'SeparableConv2D',
  Convolution2DTranspose: 'Conv2DTranspose',
};

/** Conv2D's and Conv1D's arguments. */
const KERAS_CONV: Sig = [
  ['filters'],
  ['kernel_size'],
  ['strides', I(1)],
  ['padding', S('valid')],
  ['data_format', NONE],
  ['dilation_rate', I(1)],
  ['groups', I(1)],
  ['activation', NONE],
  ['use_bias', B(true)],
];
/** DepthwiseConv2D's and DepthwiseConv1D's. */
const KERAS_DEPTHWISE: Sig = [
  ['kernel_size'],
  ['strides', I(1)],
  ['padding', S('valid')],
  ['depth_multiplier', I(1)],
  ['data_format', NONE],
  ['dilation_rate', I(1)],
  ['activation', NONE],
  ['use_bias', B(true)],
];
/** SeparableConv2D's and SeparableConv1D's. */
const KERAS_SEPARABLE: Sig = [
  ['filters'],
  ['kernel_size'],
  ['strides', I(1)],
  ['padding', S('valid')],
  ['data_format', NONE],
  ['dilation_rate', I(1)],
  ['depth_multiplier', I(1)],
  ['activation', NONE],
  ['use_bias', B(true)],
];
/** The max and average pools', 1-D and 2-D. */
const KERAS_POOL: Sig = [
  ['pool_size', I(2)],
  ['strides', NONE],
  ['padding', S('valid')],
  ['data_format', NONE],
];
/** The global pools', 1-D and 2-D. */
const KERAS_GLOBAL_POOL: Sig = [
  ['data_format', NONE],
  ['keepdims', B(false)],
];

const KERAS_LAYERS: Record<string, Sig> = {
  Conv2D: KERAS_CONV,
  DepthwiseConv2D: KERAS_DEPTHWISE,
  SeparableConv2D: KERAS_SEPARABLE,
  Conv2DTranspose: [
    ['filters'],
    ['kernel_size'],
    ['strides', I(1)],
    ['padding', S('valid')],
    ['output_padding', NONE],
    ['data_format', NONE],
    ['dilation_rate', I(1)],
    ['activation', NONE],
    ['use_bias', B(true)],
  ],
  Dense: [['units'], ['activation', NONE], ['use_bias', B(true)]],
  BatchNormalization: [
    ['axis', I(-1)],
    ['momentum', { k: 'float', v: 0.99 }],
    ['epsilon', { k: 'float', v: 1e-3 }],
    ['center', B(true)],
    ['scale', B(true)],
  ],
  MaxPooling2D: KERAS_POOL,
  AveragePooling2D: KERAS_POOL,
  GlobalAveragePooling2D: KERAS_GLOBAL_POOL,
  Conv1D: KERAS_CONV,
  SeparableConv1D: KERAS_SEPARABLE,
  DepthwiseConv1D: KERAS_DEPTHWISE,
  MaxPooling1D: KERAS_POOL,
  AveragePooling1D: KERAS_POOL,
  GlobalAveragePooling1D: KERAS_GLOBAL_POOL,
  GlobalMaxPooling1D: KERAS_GLOBAL_POOL,
  GlobalMaxPooling2D: KERAS_GLOBAL_POOL,
  Flatten: [['data_format', NONE]],
  Reshape: [['target_shape']],
  ZeroPadding2D: [
    ['padding', I(1)],
    ['data_format', NONE],
  ],
  UpSampling2D: [
    ['size', I(2)],
    ['data_format', NONE],
    ['interpolation', S('nearest')],
  ],
  Concatenate: [['axis', I(-1)]],
  Add: [],
  Multiply: [],
  Subtract: [],
  Average: [],
  Maximum: [],
  Minimum: [],
  Input: [
    ['shape', NONE],
    ['batch_size', NONE],
    ['name', NONE],
    ['dtype', NONE],
  ],
  Sequential: [
    ['layers', NONE],
    ['name', NONE],
  ],
  Model: [
    ['inputs', NONE],
    ['outputs', NONE],
    ['name', NONE],
  ],
};
const KERAS_SAME = new Set([
  'Activation',
  'ReLU',
  'LeakyReLU',
  'PReLU',
  'ELU',
  'Softmax',
  'Dropout',
  'SpatialDropout2D',
  'GaussianNoise',
  'Rescaling',
  'Normalization',
  'LayerNormalization',
  'AlphaDropout',
  'ActivityRegularization',
]);
const MERGE = new Set(['Add', 'Multiply', 'Subtract', 'Average', 'Maximum', 'Minimum']);
/** Keras layers (other than convs) with weights: their weights depend on their input's shape. */
const KERAS_WEIGHTED = new Set(['Dense', 'BatchNormalization', 'Normalization', 'LayerNormalization', 'PReLU']);

const SAME_FUNCTIONS = new Set([
  'relu',
  'relu_',
  'relu6',
  'gelu',
  'silu',
  'sigmoid',
  'sigmoid_',
  'tanh',
  'tanh_',
  'hardswish',
  'hardsigmoid',
  'hardtanh',
  'hardtanh_',
  'leaky_relu',
  'leaky_relu_',
  'elu',
  'elu_',
  'selu',
  'mish',
  'softplus',
  'dropout',
  'dropout2d',
  'alpha_dropout',
  'contiguous',
  'clone',
  'detach',
  'float',
  'half',
  'double',
  'abs',
  'exp',
  'neg',
  'clamp',
  'clamp_',
  'clip',
  'softmax',
  'log_softmax',
  'batch_norm',
  'layer_norm',
  'group_norm',
  'instance_norm',
  'normalize',
  'mul_',
  'add_',
  'div_',
  'sub_',
  'sqrt',
  'rsqrt',
  'to',
  'cuda',
  'cpu',
  'type_as',
  'requires_grad_',
  'square',
  'sign',
  'log',
  'channel_shuffle',
  'native_channel_shuffle',
  'swish',
  'hard_swish',
  'hard_sigmoid',
  'pow',
  'relu6_',
  'silu_',
  'sigmoid',
  'erf',
  'zero_',
  'fill_',
  'masked_fill',
  'mul',
  'div',
  'add',
  'sub',
  'clamp_min',
  'clamp_max',
  'softsign',
  'logsigmoid',
  'tanhshrink',
]);

const pairOf = (v: number | number[]): [number, number] => (typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!]);

/**
 * Python's math and numpy functions of one number, by qualified name: the function and whether its
 * result is an int (math.ceil and math.floor return ints, numpy's rounding functions floats).
 */
const MATH_FUNCTIONS = new Map<string, [(x: number) => number, boolean]>([
  ['math.ceil', [Math.ceil, true]],
  ['math.floor', [Math.floor, true]],
  ['math.sqrt', [Math.sqrt, false]],
  ['math.log', [Math.log, false]],
  ['math.log2', [Math.log2, false]],
  ['math.exp', [Math.exp, false]],
  ['math.trunc', [Math.trunc, true]],
  ['numpy.ceil', [Math.ceil, false]],
  ['numpy.floor', [Math.floor, false]],
  ['numpy.sqrt', [Math.sqrt, false]],
  ['numpy.round', [pyRound, false]],
  ['numpy.around', [pyRound, false]],
  ['numpy.rint', [pyRound, false]],
  ['numpy.abs', [Math.abs, false]],
  ['numpy.int', [Math.trunc, true]],
  ['numpy.int32', [Math.trunc, true]],
  ['numpy.int64', [Math.trunc, true]],
]);

/**
 * A tensor op with a scalar: the same shape; known values (TensorInfo.items) go through `f` where
 * it knows the result of each, and are dropped otherwise.
 */
function elementwise(t: TensorInfo, f: (x: Value) => Value | undefined): Value {
  if (!t.items) return { k: 'tensor', t };
  const items: Value[] = [];
  for (const x of t.items) {
    const y = f(x);
    if (y === undefined) break;
    items.push(y);
  }
  const { items: _old, ...rest } = t;
  return { k: 'tensor', t: items.length === t.items.length ? { ...rest, items } : rest };
}

/** a op b for a torch tensor's known values: numpy's rules, floats rounded to float32. */
function numericBinary(op: string, a: Value, b: Value): Value | undefined {
  const r = numpyBinary(op, a, b);
  return r?.k === 'float' ? { k: 'float', v: Math.fround(r.v) } : r;
}

/** Tensor methods that change their tensor's shape in place: followed as their out-of-place twins. */
const SHAPE_IN_PLACE = new Set(['unsqueeze_', 'squeeze_', 'transpose_', 't_', 'swapdims_', 'swapaxes_']);

/** Values a tensor of known numbers keeps at most (see TensorInfo.items). */
const KNOWN_ITEMS = 4096;
/** Tensor functions whose result has the values of their tensor (the others' results do not know theirs). */
const VALUE_KEEPING = new Set(['float', 'double', 'to', 'cpu', 'cuda', 'detach', 'clone', 'contiguous', 'requires_grad_', 'flatten', 'view', 'reshape']);

export class Library {
  constructor(private readonly it: Interpreter) {}

  isLibraryModule(name: string): boolean {
    return LIBRARY_ROOTS.has(name.split('.')[0]!);
  }

  starNames(moduleName: string): string[] {
    const c = this.canonical(moduleName);
    if (c === 'torch.nn') return [...Object.keys(TORCH_LAYERS), ...TORCH_SAME, ...TORCH_CONTAINERS, 'Module', 'functional', 'init'];
    if (c === 'keras.layers') return [...Object.keys(KERAS_LAYERS), ...KERAS_SAME, 'Layer'];
    return [];
  }

  /** torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d; tensorflow.keras.layers.Conv2D -> keras.layers.Conv2D. */
  canonical(path: string): string {
    let parts = path.split('.');
    if (parts[0] === 'tf') parts = ['tensorflow', ...parts.slice(1)];
    const last = parts[parts.length - 1]!;
    if (parts[0] === 'torch' && parts[1] === 'nn' && parts.length >= 3) {
      if (parts[2] === 'functional') return parts.length === 3 ? 'torch.nn.functional' : `torch.nn.functional.${last}`;
      if (parts[2] === 'init') return parts.length === 3 ? 'torch.nn.init' : `torch.nn.init.${last}`;
      if (parts[2] === 'modules' && parts.length <= 4) return parts.join('.');
      return `torch.nn.${last}`;
    }
    if (parts[0] === 'torchvision' && parts[1] === 'ops' && parts.length >= 3) return `torchvision.ops.${last}`;
    if (parts[0] === 'timm' && (last === 'DropPath' || last === 'drop_path')) return `timm.${last}`;
    if (parts[0] === 'tensorflow') parts = parts.slice(1);
    if (parts[0] === 'tf_keras') parts = ['keras', ...parts.slice(1)];
    if (parts[0] === 'keras') {
      parts = parts.slice(1);
      if (parts[0] === 'src') parts = parts.slice(1);
      if (parts.length === 0) return 'keras';
      const name = parts[parts.length - 1]!;
      if (parts.length === 1 && (name === 'Input' || name === 'layers')) return name === 'Input' ? 'keras.layers.Input' : 'keras.layers';
      if (parts.length === 1 && (name === 'Model' || name === 'Sequential')) return `keras.${name}`;
      if (parts[0] === 'models' && parts.length >= 2)
        return name === 'Model' || name === 'Functional' ? 'keras.Model' : name === 'Sequential' ? 'keras.Sequential' : `keras.models.${name}`;
      if (parts[0] === 'layers' && parts.length >= 2) return name === 'Model' ? 'keras.Model' : `keras.layers.${KERAS_ALIASES[name] ?? name}`;
      return `keras.${parts.join('.')}`;
    }
    return parts.join('.');
  }

  isModuleBase(base: string): boolean {
    return (
      base === 'torch.nn.Module' ||
      (base.startsWith('torch.nn.') && !base.startsWith('torch.nn.functional')) ||
      base === 'keras.Model' ||
      base === 'keras.layers.Layer' ||
      base === 'keras.Sequential' ||
      base.startsWith('torchvision.ops.')
    );
  }

  isEnumOrException(base: string): boolean {
    return /^(enum\.|builtins\.\w*(Error|Exception)$)/.test(base) || base === 'Exception';
  }

  // -------------------------------------------------------------------------------------------
  // Builtins

  installBuiltins(scope: Scope): void {
    const def = (name: string, call: (args: Args, kwargs: Kwargs, node: Node | undefined) => Value) => scope.vars.set(name, { k: 'native', name, call });
    const it = this.it;
    def('range', (a) => {
      const n = a.map(num);
      if (a.some(isUnknown)) return unknown(`range() of something not known (${(a.find(isUnknown) as { reason: string }).reason})`);
      if (n.some((x, i) => x === undefined || a[i]!.k === 'float')) return unknown('range() of non-integers');
      const [start, stop, step] = a.length === 1 ? [0, n[0]!, 1] : [n[0]!, n[1]!, n[2] ?? 1];
      if (step === 0) throw new RaiseError('range() step 0');
      const count = Math.max(0, Math.ceil((stop - start) / step));
      if (count > 100_000) throw new LimitError('evaluation limit (range size)');
      const items: Value[] = [];
      for (let i = 0; i < count; i++) items.push(int(start + i * step));
      return tuple(items);
    });
    def('len', (a) => {
      const v = a[0] ?? NONE;
      if (v.k === 'tuple' || v.k === 'list') return v.k === 'list' && v.taint ? unknown(v.taint) : int(v.items.length);
      if (v.k === 'str') return int(v.v.length);
      if (v.k === 'dict') return v.taint ? unknown(v.taint) : int(v.entries.size);
      const children = v.k === 'layer' ? this.childrenOf(v.layer) : v.k === 'obj' && v.base ? this.childrenOf(v.base) : undefined;
      if (children) return int(children.length);
      if (v.k === 'tensor' && v.t.shape) return int(v.t.shape[0]!);
      return isUnknown(v) ? v : unknown(`len() of ${v.k}`);
    });
    def('int', (a) => {
      const v = a[0] ?? int(0);
      if (v.k === 'str' && /^\s*-?\d+\s*$/.test(v.v)) return int(Number(v.v));
      const x = num(v);
      return x === undefined ? (isUnknown(v) ? v : unknown(`int() of ${v.k}`)) : int(Math.trunc(x));
    });
    def('float', (a) => {
      const v = a[0] ?? int(0);
      if (v.k === 'str' && Number.isFinite(Number(v.v))) return { k: 'float', v: Number(v.v) };
      const x = num(v);
      return x === undefined ? (isUnknown(v) ? v : unknown('float()')) : { k: 'float', v: x };
    });
    def('bool', (a) => {
      const t = a[0] ? truthy(a[0]) : false;
      return t === undefined ? unknown('bool() of something not known') : bool(t);
    });
    def('str', (a) => {
      const v = a[0] ?? str('');
      if (v.k === 'str') return v;
      if (v.k === 'int' || v.k === 'float' || v.k === 'bool' || v.k === 'none') return str(repr(v));
      return unknown('str()');
    });
    // Layer names made from letters (`str(stage) + chr(i + 97)`: "1a", "1b").
    def('chr', (a) => {
      const v = a[0] ?? NONE;
      if (isUnknown(v)) return v;
      if (v.k !== 'int' || v.v < 0 || v.v > 0x10ffff) throw new RaiseError(`chr() of ${v.k === 'int' ? v.v : v.k}`);
      return str(String.fromCodePoint(v.v));
    });
    def('ord', (a) => {
      const v = a[0] ?? NONE;
      if (isUnknown(v)) return v;
      if (v.k !== 'str' || [...v.v].length !== 1) return unknown('ord() of something other than one character');
      return int(v.v.codePointAt(0)!);
    });
    def('round', (a) => {
      const x = a[0] ? num(a[0]) : undefined;
      if (x === undefined) return a[0] && isUnknown(a[0]) ? a[0] : unknown('round()');
      if (a[1] && a[1].k !== 'none') {
        const d = num(a[1]);
        if (d === undefined) return unknown('round() digits');
        return { k: 'float', v: Math.round(x * 10 ** d) / 10 ** d };
      }
      return int(pyRound(x));
    });
    def('abs', (a) => {
      const v = a[0] ?? NONE;
      return v.k === 'int' || v.k === 'float' ? { k: v.k, v: Math.abs(v.v) } : v.k === 'tensor' ? v : unknown('abs()');
    });
    const extreme = (name: string, pick: (x: number, y: number) => boolean) =>
      def(name, (a, kw) => {
        let items: Value[] = a;
        if (a.length === 1) {
          const r = it.iterate(a[0]!, undefined);
          if (isUnknown(r)) return r;
          items = r;
        }
        if (items.length === 0) return kw.get('default') ?? unknown(`${name}() of nothing`);
        let best = items[0]!;
        for (const v of items) {
          if (isUnknown(v)) return v;
          const x = num(v);
          const y = num(best);
          if (x === undefined || y === undefined) return unknown(`${name}() of non-numbers`);
          if (pick(x, y)) best = v;
        }
        return best;
      });
    extreme('max', (x, y) => x > y);
    extreme('min', (x, y) => x < y);
    def('sum', (a) => {
      const items = it.iterate(a[0] ?? tuple([]), undefined);
      if (isUnknown(items)) return items;
      let acc: Value = a[1] ?? int(0);
      for (const v of items) acc = it.binary('+', acc, v, undefined as unknown as Node);
      return acc;
    });
    def('list', (a) => {
      if (!a[0]) return { k: 'list', items: [] };
      const items = it.iterate(a[0], undefined);
      return isUnknown(items) ? { k: 'list', items: [], taint: items.reason } : { k: 'list', items: [...items] };
    });
    def('tuple', (a) => {
      if (!a[0]) return tuple([]);
      const items = it.iterate(a[0], undefined);
      return isUnknown(items) ? items : tuple([...items]);
    });
    def('set', (a) => {
      if (!a[0]) return { k: 'list', items: [] };
      const items = it.iterate(a[0], undefined);
      if (isUnknown(items)) return { k: 'list', items: [], taint: items.reason };
      const seen = new Map<string, Value>();
      for (const v of items) {
        const h = hashKey(v);
        if (h === undefined) return unknown('set() of unhashable values');
        seen.set(h, v);
      }
      return { k: 'list', items: [...seen.values()] };
    });
    def('dict', (a, kw) => this.makeDict(a, kw));
    def('zip', (a) => {
      const lists: Value[][] = [];
      for (const v of a) {
        const items = it.iterate(v, undefined);
        if (isUnknown(items)) return items;
        lists.push(items);
      }
      const n = lists.length ? Math.min(...lists.map((l) => l.length)) : 0;
      const out: Value[] = [];
      for (let i = 0; i < n; i++) out.push(tuple(lists.map((l) => l[i]!)));
      return { k: 'list', items: out };
    });
    def('enumerate', (a, kw) => {
      const items = it.iterate(a[0] ?? tuple([]), undefined);
      if (isUnknown(items)) return items;
      const start = num(a[1] ?? kw.get('start') ?? int(0)) ?? 0;
      return { k: 'list', items: items.map((v, i) => tuple([int(start + i), v])) };
    });
    def('reversed', (a) => {
      const items = it.iterate(a[0] ?? tuple([]), undefined);
      return isUnknown(items) ? items : { k: 'list', items: [...items].reverse() };
    });
    def('sorted', (a, kw) => {
      const items = it.iterate(a[0] ?? tuple([]), undefined);
      if (isUnknown(items)) return items;
      if (kw.has('key')) return unknown('sorted() with a key');
      const nums = items.map(num);
      if (nums.some((n) => n === undefined)) {
        if (items.every((v) => v.k === 'str'))
          return { k: 'list', items: [...items].sort((x, y) => ((x as { v: string }).v < (y as { v: string }).v ? -1 : 1)) };
        return unknown('sorted() of non-numbers');
      }
      const out = items
        .map((v, i) => [v, nums[i]!] as const)
        .sort((x, y) => x[1] - y[1])
        .map(([v]) => v);
      if (kw.get('reverse') && truthy(kw.get('reverse')!)) out.reverse();
      return { k: 'list', items: out };
    });
    def('map', (a, _kw, node) => {
      const fn = a[0]!;
      const lists: Value[][] = [];
      for (const v of a.slice(1)) {
        const items = it.iterate(v, undefined);
        if (isUnknown(items)) return items;
        lists.push(items);
      }
      const n = lists.length ? Math.min(...lists.map((l) => l.length)) : 0;
      const out: Value[] = [];
      for (let i = 0; i < n; i++)
        out.push(
          it.callValue(
            fn,
            lists.map((l) => l[i]!),
            new Map(),
            node,
          ),
        );
      return { k: 'list', items: out };
    });
    def('filter', (a, _kw, node) => {
      const items = it.iterate(a[1] ?? tuple([]), undefined);
      if (isUnknown(items)) return items;
      const out: Value[] = [];
      for (const v of items) {
        const keep = a[0]!.k === 'none' ? truthy(v) : truthy(it.callValue(a[0]!, [v], new Map(), node));
        if (keep === undefined) return unknown('filter() on values not known');
        if (keep) out.push(v);
      }
      return { k: 'list', items: out };
    });
    const anyAll = (name: string, all: boolean) =>
      def(name, (a) => {
        const items = it.iterate(a[0] ?? tuple([]), undefined);
        if (isUnknown(items)) return items;
        for (const v of items) {
          const t = truthy(v);
          if (t === undefined) return unknown(`${name}() of values not known`);
          if (t !== all) return bool(!all);
        }
        return bool(all);
      });
    anyAll('any', false);
    anyAll('all', true);
    def('divmod', (a) => {
      const x = num(a[0] ?? NONE);
      const y = num(a[1] ?? NONE);
      if (x === undefined || y === undefined || y === 0) return unknown('divmod()');
      return tuple([int(Math.floor(x / y)), int(x - y * Math.floor(x / y))]);
    });
    def('pow', (a) => it.binary('**', a[0] ?? NONE, a[1] ?? NONE, undefined as unknown as Node));
    def('isinstance', (a) => this.isInstance(a[0] ?? NONE, a[1] ?? NONE));
    def('issubclass', () => unknown('issubclass() is not followed'));
    def('hasattr', (a) => {
      const v = a[0] ?? NONE;
      const name = a[1]?.k === 'str' ? a[1].v : undefined;
      if (!name) return unknown('hasattr()');
      if (v.k === 'obj') return bool(v.attrs.has(name) || !!it.classAttr(v.cls, name));
      // hasattr(nn, 'SiLU') (code that runs on old PyTorch too): the layers known here are in the PyTorch measured with.
      if (v.k === 'lib' && ['torch.nn', 'keras.layers'].includes(this.canonical(v.path)) && this.starNames(v.path).includes(name)) return bool(true);
      return unknown('hasattr()');
    });
    def('getattr', (a, _kw, node) => {
      const name = a[1]?.k === 'str' ? a[1].v : undefined;
      if (!name) return unknown('getattr() with a name not known');
      const v = it.getAttr(a[0] ?? NONE, name, node);
      if (isUnknown(v) && a[2]) {
        if (a[0]?.k === 'obj' && !a[0].attrs.has(name) && !it.classAttr(a[0].cls, name)) return a[2];
      }
      return v;
    });
    def('setattr', (a) => {
      if (a[1]?.k === 'str') it.setAttr(a[0] ?? NONE, a[1].v, a[2] ?? NONE);
      else if (a[0]?.k === 'obj') return unknown('setattr() with a name not known');
      return NONE;
    });
    def('print', () => NONE);
    def('callable', (a) => bool(['func', 'bound', 'native', 'class', 'lib', 'partial', 'layer'].includes((a[0] ?? NONE).k)));
    // The builtin type of a plain value (`type(rate) is list`), the class of an object.
    def('type', (a) => {
      const v = a[0] ?? NONE;
      if (a.length === 3) {
        // type(name, bases, attributes): a new class (a config object made on the fly).
        const [name, bases, attributes] = a as [Value, Value, Value];
        if (name.k !== 'str' || (bases.k !== 'tuple' && bases.k !== 'list') || attributes.k !== 'dict' || attributes.taint)
          return unknown('type() of a class made from values not known');
        const attrs = new Map<string, Value>();
        for (const [key, value] of attributes.entries.values()) {
          if (key.k !== 'str') return unknown('type() with an attribute name that is not a string');
          attrs.set(key.v, value);
        }
        return { k: 'class', cls: { name: name.v, file: '', bases: [...bases.items], attrs } };
      }
      if (v.k === 'obj') return { k: 'class', cls: v.cls };
      const builtin = { int: 'int', float: 'float', bool: 'bool', str: 'str', list: 'list', dict: 'dict', tuple: v.k === 'tuple' && !v.cls ? 'tuple' : '' }[
        v.k as string
      ];
      return (builtin && scope.vars.get(builtin)) || unknown(`type() of ${isUnknown(v) ? 'something not known' : `a ${v.k}`}`);
    });
    def('id', () => unknown('id()'));
    def('iter', (a) => a[0] ?? NONE);
    def('next', () => unknown('next()'));
    def('super', (a) => (a.length === 2 && a[0]!.k === 'class' ? { k: 'super', cls: a[0].cls, self: a[1]! } : unknown('super() outside a method')));
    def('vars', () => unknown('vars()'));
    def('locals', () => unknown('locals()'));
    def('globals', () => unknown('globals()'));
    def('open', () => unknown('open()'));
    def('hash', () => unknown('hash()'));
    scope.vars.set('object', { k: 'lib', path: 'builtins.object' });
    for (const name of [
      'Exception',
      'ValueError',
      'TypeError',
      'NotImplementedError',
      'KeyError',
      'RuntimeError',
      'AssertionError',
      'IndexError',
      'AttributeError',
      'ImportError',
      'NotImplemented',
      'StopIteration',
    ]) {
      scope.vars.set(name, { k: 'lib', path: `builtins.${name}` });
    }
  }

  private makeDict(a: Args, kw: Kwargs): Value {
    const entries = new Map<string, [Value, Value]>();
    if (a[0]) {
      if (a[0].k === 'dict') {
        if (a[0].taint) return { k: 'dict', entries, taint: a[0].taint };
        for (const [h, e] of a[0].entries) entries.set(h, e);
      } else {
        const items = this.it.iterate(a[0], undefined);
        if (isUnknown(items)) return { k: 'dict', entries, taint: items.reason };
        for (const pair of items) {
          const kv = this.it.iterate(pair, undefined);
          if (isUnknown(kv) || kv.length !== 2) return { k: 'dict', entries, taint: 'dict() of pairs not known' };
          const h = hashKey(kv[0]!);
          if (h === undefined) return { k: 'dict', entries, taint: 'a dict key not known' };
          entries.set(h, [kv[0]!, kv[1]!]);
        }
      }
    }
    for (const [k, v] of kw) entries.set(`s:${k}`, [str(k), v]);
    return { k: 'dict', entries };
  }

  private isInstance(v: Value, cls: Value): Value {
    if (cls.k === 'tuple') {
      let any: boolean | undefined = false;
      for (const c of cls.items) {
        const r = this.isInstance(v, c);
        if (r.k === 'bool' && r.v) return bool(true);
        if (r.k !== 'bool') any = undefined;
      }
      return any === undefined ? unknown('isinstance() not known') : bool(false);
    }
    if (cls.k === 'lib') {
      const c = this.canonical(cls.path);
      const last = c.split('.').pop()!;
      const kinds: Record<string, string[]> = {
        'builtins.int': ['int', 'bool'],
        'builtins.float': ['float'],
        'builtins.str': ['str'],
        'builtins.list': ['list'],
        'builtins.tuple': ['tuple'],
        'builtins.dict': ['dict'],
        'builtins.bool': ['bool'],
        Sequence: ['list', 'tuple', 'str'],
        MutableSequence: ['list'],
        List: ['list'],
        Tuple: ['tuple'],
        Mapping: ['dict'],
        MutableMapping: ['dict'],
        Dict: ['dict'],
        OrderedDict: ['dict'],
        Iterable: ['list', 'tuple', 'dict', 'str'],
        Callable: ['func', 'bound', 'native', 'class', 'lib', 'partial', 'layer'],
      };
      const abc = /^(typing|collections|collections\.abc)\.\w+$/.test(c) ? kinds[last] : kinds[c];
      if (isUnknown(v)) return v;
      if (v.k === 'layer') {
        const mine = v.layer.cls.split('.').pop()!;
        if (c === v.layer.cls) return bool(true);
        if (c === 'torch.nn.Module') return bool(v.layer.framework === 'torch');
        if (c === 'keras.layers.Layer') return bool(v.layer.framework === 'keras');
        if (c === 'torch.nn._ConvNd') return bool(mine === 'Conv2d' || mine === 'ConvTranspose2d');
        if (c === 'torch.nn._BatchNorm' || c === 'torch.nn._NormBase')
          return bool(/^BatchNorm/.test(mine) || (c === 'torch.nn._NormBase' && /^InstanceNorm/.test(mine)));
        if (c === 'torch.nn._MaxPoolNd' || c === 'torch.nn._AvgPoolNd') return bool(mine === `${c.slice(10, 13)}Pool2d`);
        if (c === 'torch.nn._AdaptiveAvgPoolNd') return bool(mine === 'AdaptiveAvgPool2d');
        // Our layers are exactly the library's classes: they derive from no other class of the library.
        return bool(false);
      }
      if (v.k === 'obj') {
        const bases = this.it.libraryBases(v.cls);
        if (bases.includes(c)) return bool(true);
        if (c === 'torch.nn.Module' && bases.some((b) => b.startsWith('torch.nn.'))) return bool(true);
        if (c === 'keras.layers.Layer' && bases.some((b) => b.startsWith('keras.'))) return bool(true);
        if (bases.includes('?')) return unknown(`isinstance() of a ${v.cls.name}, whose bases are not all known`);
        return bool(false);
      }
      if (v.k === 'tensor') return bool(c === 'torch.Tensor');
      // Anything else the evaluator knows (a list of tensors, a number, a tuple) is not a tensor.
      if (c === 'torch.Tensor') return bool(false);
      if (abc) return bool(abc.includes(v.k));
      return unknown(`isinstance(..., ${cls.path}) is not known`);
    }
    if (cls.k === 'native') {
      const kinds: Record<string, string[]> = {
        int: ['int', 'bool'],
        float: ['float'],
        str: ['str'],
        list: ['list'],
        tuple: ['tuple'],
        dict: ['dict'],
        bool: ['bool'],
      };
      if (isUnknown(v)) return v;
      if (cls.name in kinds) return bool(kinds[cls.name]!.includes(v.k));
      return unknown(`isinstance(, ${cls.name})`);
    }
    if (cls.k === 'class') {
      if (v.k === 'obj') {
        const walk = (c: ClassDef, seen: Set<ClassDef>): boolean => {
          if (c === cls.cls) return true;
          if (seen.has(c)) return false;
          seen.add(c);
          return c.bases.some((b) => b.k === 'class' && walk(b.cls, seen));
        };
        return bool(walk(v.cls, new Set()));
      }
      if (v.k === 'tuple' && v.cls) return bool(v.cls === cls.cls);
      if (isUnknown(v)) return v;
      return bool(false);
    }
    return unknown('isinstance() with a class not known');
  }

  // -------------------------------------------------------------------------------------------
  // Library names

  libAttr(path: string, name: string): Value {
    const full = `${path}.${name}`;
    const c = this.canonical(full);
    switch (c) {
      case 'math.pi':
        return { k: 'float', v: Math.PI };
      case 'math.e':
        return { k: 'float', v: Math.E };
      case 'math.inf':
        return { k: 'float', v: Infinity };
      default:
        return { k: 'lib', path: full };
    }
  }

  callLib(path: string, args: Args, kwargs: Kwargs, node: Node | undefined): Value {
    const c = this.canonical(path);
    const parts = c.split('.');
    const last = parts[parts.length - 1]!;
    // torch.nn layers
    if (parts[0] === 'torch' && parts[1] === 'nn' && parts.length === 3) {
      if (last in TORCH_LAYERS || TORCH_SAME.has(last) || TORCH_CONTAINERS.has(last)) return { k: 'layer', layer: this.makeLayer(c, 'torch', args, kwargs) };
      if (last === 'Module') return NONE;
      if (PARAMETRIC_NOT_FOLLOWED.has(last)) {
        // Its parameters exist whatever it computes: the model's totals say that they are not counted.
        const site = this.it.currentSite();
        const reason = `${last} is not followed: its parameters and MACs are not counted`;
        if (site) this.it.instances.push({ site, layerId: this.it.newId(), framework: 'torch', type: last, reason, atBuild: true });
        return unknown(reason);
      }
      if (last === 'Parameter') {
        const data = args[0] ?? kwargs.get('data');
        if (data?.k !== 'tensor') return data ?? unknown('nn.Parameter');
        const parameter: Value = { k: 'tensor', t: { ...data.t } };
        this.parameters.add(parameter.t);
        // A module's own parameter (a layer scale, a position embedding) counts in the model's params.
        const site = this.it.currentSite();
        const shape = data.t.shape;
        if (site)
          this.it.instances.push({
            site,
            layerId: this.it.newId(),
            framework: 'torch',
            type: 'Parameter',
            atBuild: true,
            ...(shape
              ? { params: shape.reduce((x, y) => x * y, 1), macs: 0, input: [], output: shape }
              : { reason: `an nn.Parameter whose shape is not known (${data.t.reason ?? 'not known'})` }),
          });
        return parameter;
      }
    }
    if (c === 'torchvision.ops.Conv2dNormActivation' || c === 'torchvision.ops.ConvNormActivation') return this.conv2dNormActivation(args, kwargs);
    if (c === 'torchvision.ops.SqueezeExcitation') return this.squeezeExcitation(args, kwargs);
    if (c === 'torchvision.ops.StochasticDepth' || c === 'timm.DropPath')
      return { k: 'layer', layer: this.makeLayer('torch.nn.Identity', 'torch', [], new Map()) };
    if (parts[0] === 'torch' && (parts[1] === 'nn' ? parts[2] === 'functional' : true)) {
      const fn = parts[0] === 'torch' && parts[1] === 'nn' ? last : parts.slice(1).join('.');
      if (parts[1] === 'nn' && parts[2] === 'init') return NONE;
      const r = this.torchFunction(fn, args, kwargs, node);
      if (r) return r;
    }
    if (parts[0] === 'keras') {
      const r = this.kerasCall(c, args, kwargs, node);
      if (r) return r;
    }
    if (c === 're.split' || c === 're.findall' || c === 're.sub') return this.regex(c.slice(3), args, kwargs);
    if (parts[0] === 'numpy' && parts.length === 2) {
      const r = numpyCall(last, args, kwargs);
      if (r) return r;
    }
    if (c === 'math.pow' && args.length === 2) {
      // Always a float: math.pow(2, 3) is 8.0, and 2 ** 1024 overflows (OverflowError).
      const [a, b] = [args[0]!, args[1]!];
      if (isUnknown(a)) return a;
      if (isUnknown(b)) return b;
      const [x, y] = [num(a), num(b)];
      if (x === undefined || y === undefined) return unknown('math.pow() of values not known');
      const r = Math.pow(x, y);
      if (!Number.isFinite(r) || (x < 0 && !Number.isInteger(y))) return unknown('math.pow(): math range or domain error');
      return { k: 'float', v: r };
    }
    if (c === 'math.log' && (args.length > 1 || kwargs.has('base'))) {
      // log(x, base) = log(x) / log(base), as CPython computes it.
      const base = args[1] ?? kwargs.get('base')!;
      if (isUnknown(base)) return base;
      const b = num(base);
      if (b === undefined || b <= 0 || b === 1) return unknown('math.log() with a base not known');
      return this.math(args.slice(0, 1), (x) => Math.log(x) / Math.log(b), false);
    }
    const rounding = MATH_FUNCTIONS.get(c);
    // Each takes one argument: any more is a call not known here, never silently dropped.
    if (rounding)
      return args.length > 1 || kwargs.size > 0 ? unknown(`${c}() with ${args.length + kwargs.size} arguments`) : this.math(args, rounding[0], rounding[1]);
    switch (c) {
      case 'math.gcd': {
        let [x, y] = [num(args[0] ?? NONE), num(args[1] ?? NONE)];
        if (x === undefined || y === undefined) return unknown('math.gcd() of values not known');
        x = Math.abs(x);
        y = Math.abs(y);
        while (y) [x, y] = [y, x % y];
        return int(x);
      }
      case 'functools.partial':
        return args[0] ? { k: 'partial', fn: args[0], args: args.slice(1), kwargs: new Map(kwargs) } : unknown('partial()');
      case 'functools.reduce':
        return unknown('functools.reduce() is not followed');
      case 'collections.OrderedDict':
        return this.makeDict(args, kwargs);
      case 'collections.namedtuple':
      case 'typing.NamedTuple': {
        const name = args[0]?.k === 'str' ? args[0].v : 'namedtuple';
        const f = args[1] ?? kwargs.get('field_names');
        let fields: string[] | undefined;
        if (f?.k === 'str') fields = f.v.replace(/,/g, ' ').split(/\s+/).filter(Boolean);
        else if (f && (f.k === 'list' || f.k === 'tuple') && f.items.every((x) => x.k === 'str')) fields = f.items.map((x) => (x as { v: string }).v);
        if (!fields) return unknown('namedtuple() fields not known');
        const d = kwargs.get('defaults');
        const defaults = d && (d.k === 'list' || d.k === 'tuple') ? d.items : [];
        const cls: ClassDef = { name, file: '', bases: [], attrs: new Map(), fields, fieldDefaults: defaults };
        return { k: 'class', cls };
      }
      case 'typing.cast':
        // cast(type, value) returns the value as it is.
        return args[1] ?? kwargs.get('val') ?? unknown('cast() of nothing');
      case 'copy.deepcopy':
      case 'copy.copy':
        return this.copyValue(args[0] ?? NONE, c === 'copy.deepcopy', new Map());
      case 'builtins.object':
        return NONE;
      case 'torchvision.models._utils._make_divisible': {
        // _make_divisible(v, divisor, min_value=None), as torchvision and the MobileNet papers write it.
        const v = num(this.arg(args, kwargs, 0, 'v') ?? NONE);
        const divisor = num(this.arg(args, kwargs, 1, 'divisor') ?? NONE);
        const minV = this.arg(args, kwargs, 2, 'min_value') ?? NONE;
        if (v === undefined || divisor === undefined || divisor <= 0) return unknown('_make_divisible() of values not known');
        const min = minV.k === 'none' ? divisor : num(minV);
        if (min === undefined) return unknown('_make_divisible() of values not known');
        let out = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
        if (out < 0.9 * v) out += divisor;
        return int(out);
      }
      case 'torchvision.utils._log_api_usage_once':
        return NONE;
      // torch.nn.modules.utils._single/_pair/_triple/_quadruple (see canonical()): a number n times, or the items as a tuple.
      case 'torch.nn._single':
      case 'torch.nn._pair':
      case 'torch.nn._triple':
      case 'torch.nn._quadruple': {
        const n = { _single: 1, _pair: 2, _triple: 3, _quadruple: 4 }[last as '_single' | '_pair' | '_triple' | '_quadruple'];
        const v = args[0] ?? NONE;
        if (isUnknown(v)) return v;
        if (v.k === 'list' || v.k === 'tuple') {
          const items = this.it.iterate(v, undefined);
          return isUnknown(items) ? items : tuple([...items]);
        }
        return tuple(Array<Value>(n).fill(v));
      }
      // torch.nn.utils.weight_norm and torch.nn.utils.parametrizations.weight_norm (see canonical()).
      case 'torch.nn.weight_norm': {
        // The weight becomes a direction v (the weight's shape) and a magnitude g: one value per
        // slice along `dim` (0: per output channel; None: one for the whole weight).
        const normed = this.weightNormed(args, kwargs);
        if (normed) return normed;
        break;
      }
      case 'torch.nn.spectral_norm': {
        // The weight is kept (as weight_orig) and divided by its largest singular value, estimated
        // with buffers: the parameters and the output do not change.
        const m = args[0] ?? kwargs.get('module');
        const name = args[1] ?? kwargs.get('name') ?? str('weight');
        if (m?.k === 'layer' && name.k === 'str' && name.v === 'weight' && this.weightShape(m.layer)) return m;
        break;
      }
      case 'operator.add':
        return this.it.binary('+', args[0] ?? NONE, args[1] ?? NONE, node!);
      case 'operator.mul':
        return this.it.binary('*', args[0] ?? NONE, args[1] ?? NONE, node!);
      default:
        break;
    }
    if (parts[0] === 'builtins') return unknown(`${last}() (the code raises)`);
    for (const a of [...args, ...kwargs.values()]) {
      if (a.k === 'list' || a.k === 'dict') a.taint ??= `it was handed to ${path}(), which is not followed`;
      // A module handed over may have been applied or changed there (see Interpreter.taintArgs).
      else if (isModuleValue(a)) this.it.notFollowed++;
    }
    return unknown(`${path}() is not followed`);
  }

  /** copy.copy / copy.deepcopy: a copied module is a new module built at the same site. */
  private copyValue(v: Value, deep: boolean, memo: Map<Value, Value>): Value {
    const seen = memo.get(v);
    if (seen) return seen;
    const inner = (x: Value) => (deep ? this.copyValue(x, true, memo) : x);
    switch (v.k) {
      case 'list': {
        const out: Value = { k: 'list', items: [], taint: v.taint };
        memo.set(v, out);
        out.items.push(...v.items.map(inner));
        return out;
      }
      case 'dict': {
        const out: Value = { k: 'dict', entries: new Map(), taint: v.taint };
        memo.set(v, out);
        for (const [h, [key, x]] of v.entries) out.entries.set(h, [key, inner(x)]);
        return out;
      }
      case 'tuple':
        return deep ? { ...v, items: v.items.map(inner) } : v;
      case 'obj': {
        const out: Value & { k: 'obj' } = { k: 'obj', cls: v.cls, attrs: new Map(), id: this.it.newId() };
        memo.set(v, out);
        if (v.base) out.base = deep ? (this.copyValue({ k: 'layer', layer: v.base }, true, memo) as { layer: Layer }).layer : v.base;
        for (const [k, x] of v.attrs) out.attrs.set(k, inner(x));
        if (this.it.libraryBases(v.cls).some((b) => this.isModuleBase(b))) {
          this.it.modulesBuilt.push(out);
          if (deep) for (const x of out.attrs.values()) this.it.adopt(out, x);
        }
        return out;
      }
      case 'layer': {
        const layer: Layer = {
          ...v.layer,
          id: this.it.newId(),
          args: { ...v.layer.args },
          applied: 0,
          children: v.layer.children ? [] : undefined,
          childNames: v.layer.childNames ? [...v.layer.childNames] : undefined,
        };
        const out: Value = { k: 'layer', layer };
        memo.set(v, out);
        for (const c of v.layer.children ?? []) layer.children!.push(inner(c));
        if (deep) for (const c of layer.children ?? []) this.it.adopt(out, c);
        this.it.built.push(layer);
        this.it.modulesBuilt.push(out);
        return out;
      }
      default:
        return v;
    }
  }

  private math(args: Args, f: (x: number) => number, integer: boolean): Value {
    const v = args[0] ?? NONE;
    if (isUnknown(v)) return v;
    const x = num(v);
    if (x === undefined) return unknown('math of a value not known');
    const r = f(x);
    if (!Number.isFinite(r)) return unknown('math domain error');
    return integer ? int(r) : { k: 'float', v: r };
  }

  // -------------------------------------------------------------------------------------------
  // Layers

  private bind(sig: Sig, args: Args, kwargs: Kwargs, cls: string): Record<string, Value> {
    const out: Record<string, Value> = {};
    sig.forEach(([name, dflt], i) => {
      const v = i < args.length ? args[i] : kwargs.get(name);
      out[name] = v ?? dflt ?? unknown(`${cls}: ${name} is not given`);
    });
    for (const [k, v] of kwargs) if (!(k in out)) out[k] = v;
    return out;
  }

  makeLayer(cls: string, framework: Framework, args: Args, kwargs: Kwargs): Layer {
    const short = cls.split('.').pop()!;
    const sig = framework === 'torch' ? TORCH_LAYERS[short] : KERAS_LAYERS[short];
    const layer: Layer = { id: this.it.newId(), cls, framework, site: this.it.currentSite(), args: {}, applied: 0 };
    if (cls === 'torch.nn.Sequential') {
      if (args.length === 1 && args[0]!.k === 'dict') {
        layer.children = [...args[0].entries.values()].map(([, v]) => v);
        layer.childNames = [...args[0].entries.values()].map(([k]) => (k.k === 'str' ? k.v : repr(k)));
        if (args[0].taint) layer.args.__tainted__ = unknown(args[0].taint);
      } else layer.children = [...args];
    } else if (cls === 'torch.nn.ModuleList') {
      const items = args[0] ? this.it.iterate(args[0], undefined) : [];
      if (isUnknown(items)) {
        layer.children = [];
        layer.args.__tainted__ = items;
      } else layer.children = [...items];
    } else if (cls === 'torch.nn.ModuleDict') {
      layer.children = [];
      layer.childNames = [];
      const d = args[0];
      if (d?.k === 'dict') {
        for (const [k, v] of d.entries.values()) {
          layer.childNames.push(k.k === 'str' ? k.v : repr(k));
          layer.children.push(v);
        }
        if (d.taint) layer.args.__tainted__ = unknown(d.taint);
      } else if (d && d.k !== 'none') layer.args.__tainted__ = unknown('ModuleDict() of something not known');
    } else if (sig) layer.args = this.bind(sig, args, kwargs, short);
    else {
      layer.args = {};
      args.forEach((a, i) => (layer.args[`#${i}`] = a));
      for (const [k, v] of kwargs) layer.args[k] = v;
    }
    for (const child of layer.children ?? []) this.it.adopt({ k: 'layer', layer }, child);
    if (layer.children) for (const c of layer.children) if (c.k === 'obj') this.it.childIds.add(c.id);
    this.it.built.push(layer);
    this.it.modulesBuilt.push({ k: 'layer', layer });
    if (framework === 'keras' && short === 'Sequential') this.kerasSequentialInit(layer, args, kwargs);
    return layer;
  }

  childrenOf(layer: Layer): Value[] | undefined {
    if (!layer.children) return undefined;
    if (layer.args.__tainted__) return undefined;
    if (layer.cls === 'torch.nn.ModuleDict') return layer.childNames!.map(str);
    return layer.children;
  }

  containerSet(layer: Layer, key: string, value: Value): void {
    layer.children ??= [];
    layer.childNames ??= layer.children.map((_, i) => String(i));
    const at = layer.childNames.indexOf(key);
    if (at >= 0) layer.children[at] = value;
    else {
      layer.childNames.push(key);
      layer.children.push(value);
    }
    this.it.adopt({ k: 'layer', layer }, value);
    if (value.k === 'obj') this.it.childIds.add(value.id);
  }

  /** torchvision.ops.Conv2dNormActivation: conv (+ norm) (+ activation), built here so that its conv's site is the call. */
  private conv2dNormActivation(args: Args, kwargs: Kwargs): Value {
    const sig: Sig = [
      ['in_channels'],
      ['out_channels'],
      ['kernel_size', I(3)],
      ['stride', I(1)],
      ['padding', NONE],
      ['groups', I(1)],
      ['norm_layer', { k: 'lib', path: 'torch.nn.BatchNorm2d' }],
      ['activation_layer', { k: 'lib', path: 'torch.nn.ReLU' }],
      ['dilation', I(1)],
      ['inplace', B(true)],
      ['bias', NONE],
    ];
    const a = this.bind(sig, args, kwargs, 'Conv2dNormActivation');
    let padding = a.padding!;
    if (padding.k === 'none') {
      const k = a.kernel_size!;
      const d = a.dilation!;
      const one = (kk: Value, dd: Value): Value => {
        const x = num(kk);
        const y = num(dd);
        return x === undefined || y === undefined ? unknown('padding of Conv2dNormActivation') : int(Math.floor((x - 1) / 2) * y);
      };
      if (k.k === 'tuple') padding = tuple(k.items.map((kk, i) => one(kk, d.k === 'tuple' ? d.items[i]! : d)));
      else padding = one(k, d);
    }
    const norm = a.norm_layer!;
    let bias = a.bias!;
    if (bias.k === 'none') bias = norm.k === 'none' ? B(true) : norm.k === 'unknown' ? norm : B(false);
    const conv = this.makeLayer(
      'torch.nn.Conv2d',
      'torch',
      [a.in_channels!, a.out_channels!, a.kernel_size!, a.stride!, padding],
      new Map([
        ['dilation', a.dilation!],
        ['groups', a.groups!],
        ['bias', bias],
      ]),
    );
    const children: Value[] = [{ k: 'layer', layer: conv }];
    if (norm.k !== 'none') children.push(this.it.callValue(norm, [a.out_channels!], new Map(), undefined));
    const act = a.activation_layer!;
    if (act.k !== 'none')
      children.push(
        this.it.callValue(
          act,
          [],
          act.k === 'lib' && /ReLU|SiLU|Hardswish|Hardsigmoid|Mish|ReLU6/.test(act.path) ? new Map([['inplace', a.inplace!]]) : new Map<string, Value>(),
          undefined,
        ),
      );
    const seq = this.makeLayer('torch.nn.Sequential', 'torch', children, new Map());
    return { k: 'layer', layer: seq };
  }

  /** torchvision.ops.SqueezeExcitation(input_channels, squeeze_channels, activation=ReLU, scale_activation=Sigmoid). */
  private squeezeExcitation(args: Args, kwargs: Kwargs): Value {
    const sig: Sig = [
      ['input_channels'],
      ['squeeze_channels'],
      ['activation', { k: 'lib', path: 'torch.nn.ReLU' }],
      ['scale_activation', { k: 'lib', path: 'torch.nn.Sigmoid' }],
    ];
    const a = this.bind(sig, args, kwargs, 'SqueezeExcitation');
    const avg = this.makeLayer('torch.nn.AdaptiveAvgPool2d', 'torch', [I(1)], new Map());
    const fc1 = this.makeLayer('torch.nn.Conv2d', 'torch', [a.input_channels!, a.squeeze_channels!, I(1)], new Map());
    const act = this.it.callValue(a.activation!, [], new Map(), undefined);
    const fc2 = this.makeLayer('torch.nn.Conv2d', 'torch', [a.squeeze_channels!, a.input_channels!, I(1)], new Map());
    const scale = this.it.callValue(a.scale_activation!, [], new Map(), undefined);
    const layer = this.makeLayer('torchvision.ops.SqueezeExcitation', 'torch', [], new Map());
    layer.children = [{ k: 'layer', layer: avg }, { k: 'layer', layer: fc1 }, act, { k: 'layer', layer: fc2 }, scale];
    for (const c of layer.children) this.it.adopt({ k: 'layer', layer }, c);
    return { k: 'layer', layer };
  }

  initBase(obj: Value & { k: 'obj' }, base: string, args: Args, kwargs: Kwargs, _node: Node | undefined): void {
    const short = base.split('.').pop()!;
    if (base === 'torch.nn.Module' || base === 'keras.layers.Layer' || base === 'builtins.object') return;
    if (base === 'keras.Model') {
      const inputs = args[0] ?? kwargs.get('inputs');
      const outputs = args[1] ?? kwargs.get('outputs');
      if (inputs && outputs) {
        const model = this.makeLayer('keras.Model', 'keras', [inputs, outputs], new Map());
        this.kerasModelInit(model);
        obj.base = model;
        this.it.childIds.add(model.id);
      }
      return;
    }
    const framework: Framework = base.startsWith('keras') ? 'keras' : 'torch';
    if (
      (framework === 'torch' && (short in TORCH_LAYERS || TORCH_SAME.has(short) || TORCH_CONTAINERS.has(short))) ||
      (framework === 'keras' && short in KERAS_LAYERS)
    ) {
      const layer = this.makeLayer(base, framework, args, kwargs);
      obj.base = layer;
      this.it.childIds.add(layer.id);
    }
  }

  superAttr(sup: Value & { k: 'super' }, name: string, node: Node | undefined): Value {
    const self = sup.self;
    const bases = this.it.libraryBases(sup.cls);
    const libBase = bases.find((b) => this.isModuleBase(b)) ?? bases[0];
    if (name === '__init__') {
      return {
        k: 'native',
        name: 'super.__init__',
        call: (a, kw) => {
          if (self.k === 'obj' && libBase) this.initBase(self, libBase, a, kw, node);
          return NONE;
        },
      };
    }
    if ((name === 'forward' || name === 'call' || name === '__call__') && self.k === 'obj' && self.base) {
      const base = self.base;
      return { k: 'native', name: 'super.forward', call: (a, kw, n) => this.applyLayer(base, a, kw, n) };
    }
    if (self.k === 'obj' && self.base) return this.valueAttr({ k: 'layer', layer: self.base }, name, node);
    return unknown(`super().${name} is not followed`);
  }

  objectAttr(obj: Value & { k: 'obj' }, name: string, node: Node | undefined): Value {
    const it = this.it;
    const native = (call: (a: Args, kw: Kwargs, n: Node | undefined) => Value): Value => ({ k: 'native', name, call });
    switch (name) {
      case 'modules':
        return native(() => ({ k: 'list', items: this.descendants(obj, true) }));
      case 'children':
        return native(() => ({ k: 'list', items: this.descendants(obj, false) }));
      case 'named_modules':
        return native(() => ({ k: 'list', items: this.descendants(obj, true).map((m) => tuple([str('?'), m])) }));
      case 'named_children':
        return native(() => ({ k: 'list', items: this.namedChildren(obj) }));
      case '_modules': {
        // The module's children by name, as read (I3D's self._modules[end_point](x)); writing to it is not followed.
        const entries = new Map<string, [Value, Value]>();
        for (const [k, a] of obj.attrs)
          if (a.k === 'layer' || (a.k === 'obj' && this.it.libraryBases(a.cls).some((b) => this.isModuleBase(b)))) entries.set(hashKey(str(k))!, [str(k), a]);
        return { k: 'dict', entries };
      }
      case 'add_module':
      case 'register_module':
        return native((a) => {
          if (a[0]?.k !== 'str') return unknown('add_module() with a name not known');
          it.setAttr(obj, a[0].v, a[1] ?? NONE);
          return NONE;
        });
      case '__setattr__':
        return native((a) => {
          if (a[0]?.k !== 'str') return unknown('__setattr__() with a name not known');
          it.setAttr(obj, a[0].v, a[1] ?? NONE);
          return NONE;
        });
      case '__getattr__':
      case '__getattribute__':
        return native((a, _kw, n) => (a[0]?.k === 'str' ? it.getAttr(obj, a[0].v, n) : unknown(`${name}() with a name not known`)));
      case 'register_parameter':
        return native((a, kw) => {
          // A parameter of its own: a library layer it subclasses no longer has only the layer's.
          if (obj.base) obj.base.ownParameters = `${obj.cls.name} registers parameters of its own`;
          const key = a[0] ?? kw.get('name');
          if (key?.k === 'str') it.setAttr(obj, key.v, a[1] ?? kw.get('param') ?? NONE);
          return NONE;
        });
      case 'register_buffer':
        // A tensor kept with the module (not a parameter): self.mean afterwards.
        return native((a, kw) => {
          const key = a[0] ?? kw.get('name');
          if (key?.k !== 'str') return unknown('register_buffer() with a name not known');
          it.setAttr(obj, key.v, a[1] ?? kw.get('tensor') ?? NONE);
          return NONE;
        });
      case 'apply':
      case 'reset_parameters':
      case 'init_weights':
      case 'load_state_dict':
      case 'zero_grad':
        return native(() => NONE);
      case 'eval':
      case 'train':
      case 'cuda':
      case 'cpu':
      case 'to':
      case 'float':
      case 'half':
      case 'requires_grad_':
        return native(() => obj);
      case '__class__':
        return { k: 'class', cls: obj.cls };
      // Models are costed as they run for inference (and as they are measured): in eval mode.
      case 'training':
        return bool(false);
      default:
        break;
    }
    if (obj.base) return this.valueAttr({ k: 'layer', layer: obj.base }, name, node);
    return unknown(`${obj.cls.name}.${name} is not set`);
  }

  private moduleChildren(v: Value): Value[] {
    if (v.k === 'layer') return v.layer.children?.filter((c) => c.k === 'layer' || c.k === 'obj') ?? [];
    if (v.k === 'obj') {
      const out: Value[] = [];
      if (v.base) out.push(...this.moduleChildren({ k: 'layer', layer: v.base }));
      for (const a of v.attrs.values()) {
        if (a.k === 'layer' || (a.k === 'obj' && this.it.libraryBases(a.cls).some((b) => this.isModuleBase(b)))) out.push(a);
      }
      return out;
    }
    return [];
  }

  private namedChildren(obj: Value & { k: 'obj' }): Value[] {
    const out: Value[] = [];
    for (const [k, a] of obj.attrs) if (a.k === 'layer' || a.k === 'obj') out.push(tuple([str(k), a]));
    return out;
  }

  private descendants(v: Value, includeSelf: boolean): Value[] {
    const out: Value[] = includeSelf ? [v] : [];
    const seen = new Set<Value>();
    const walk = (m: Value) => {
      for (const c of this.moduleChildren(m)) {
        if (seen.has(c)) continue;
        seen.add(c);
        out.push(c);
        if (includeSelf) walk(c);
      }
    };
    walk(v);
    return out;
  }

  /** Attributes and methods of plain values, tensors and layers. */
  valueAttr(v: Value, name: string, node: Node | undefined): Value {
    const it = this.it;
    const native = (call: (a: Args, kw: Kwargs, n: Node | undefined) => Value): Value => ({ k: 'native', name, call });
    switch (v.k) {
      case 'list': {
        switch (name) {
          case 'append':
            return native((a) => {
              v.items.push(a[0] ?? NONE);
              return NONE;
            });
          case 'extend':
            return native((a) => {
              const items = it.iterate(a[0] ?? NONE, undefined);
              if (isUnknown(items)) v.taint = items.reason;
              else v.items.push(...items);
              return NONE;
            });
          case 'insert':
            return native((a) => {
              const i = num(a[0] ?? NONE);
              if (i === undefined) v.taint = 'insert() at an index not known';
              else v.items.splice(i < 0 ? Math.max(0, v.items.length + i) : i, 0, a[1] ?? NONE);
              return NONE;
            });
          case 'pop':
            return native((a) => {
              if (v.taint) return unknown(v.taint);
              const i = a[0] ? num(a[0]) : -1;
              if (i === undefined || v.items.length === 0) return unknown('pop()');
              return v.items.splice(i < 0 ? v.items.length + i : i, 1)[0] ?? unknown('pop()');
            });
          case 'index':
            return native((a) => {
              for (let i = 0; i < v.items.length; i++) if (it.equal(v.items[i]!, a[0] ?? NONE)) return int(i);
              return unknown('index()');
            });
          case 'copy':
            return native(() => ({ k: 'list', items: [...v.items], taint: v.taint }));
          case 'reverse':
            return native(() => {
              v.items.reverse();
              return NONE;
            });
          case 'count':
            return native((a) => int(v.items.filter((x) => it.equal(x, a[0] ?? NONE)).length));
          default:
            return unknown(`list.${name} is not followed`);
        }
      }
      case 'tuple': {
        if (name === 'index')
          return native((a) => {
            for (let i = 0; i < v.items.length; i++) if (it.equal(v.items[i]!, a[0] ?? NONE)) return int(i);
            return unknown('index()');
          });
        if (name === 'count') return native((a) => int(v.items.filter((x) => it.equal(x, a[0] ?? NONE)).length));
        const fields = v.cls?.fields;
        if (fields && name === '_replace')
          return native((a, kw) => {
            // A copy with the fields named replaced; an unknown field raises in Python.
            if (a.length) return unknown('_replace() takes keyword arguments only');
            const items = [...v.items];
            for (const [key, value] of kw) {
              const at = fields.indexOf(key);
              if (at < 0) throw new RaiseError(`the code raises: _replace() got an unexpected field name ${key}`);
              items[at] = value;
            }
            return { ...v, items };
          });
        if (fields && name === '_asdict')
          return native(() => ({ k: 'dict', entries: new Map(fields.map((f, i) => [`s:${f}`, [str(f), v.items[i] ?? NONE] as [Value, Value]])) }));
        if (fields && name === '_fields') return tuple(fields.map(str));
        if (name === '_replace' || name === '_asdict') return unknown(`${name}() is not followed`);
        return unknown(`tuple.${name} is not known`);
      }
      case 'dict': {
        const entries = () => [...v.entries.values()];
        switch (name) {
          case 'items':
            return native(() => (v.taint ? unknown(v.taint) : { k: 'list', items: entries().map(([k, x]) => tuple([k, x])) }));
          case 'keys':
            return native(() => (v.taint ? unknown(v.taint) : { k: 'list', items: entries().map(([k]) => k) }));
          case 'values':
            return native(() => (v.taint ? unknown(v.taint) : { k: 'list', items: entries().map(([, x]) => x) }));
          case 'get':
            return native((a) => {
              const h = hashKey(a[0] ?? NONE);
              const found = h === undefined ? undefined : v.entries.get(h);
              if (found) return found[1];
              return v.taint ? unknown(v.taint) : (a[1] ?? NONE);
            });
          case 'pop':
            return native((a) => {
              const h = hashKey(a[0] ?? NONE);
              const found = h === undefined ? undefined : v.entries.get(h);
              if (found) {
                v.entries.delete(h!);
                return found[1];
              }
              return v.taint ? unknown(v.taint) : (a[1] ?? unknown('KeyError'));
            });
          case 'setdefault':
            return native((a) => {
              const h = hashKey(a[0] ?? NONE);
              if (h === undefined) return unknown('setdefault()');
              const found = v.entries.get(h);
              if (found) return found[1];
              v.entries.set(h, [a[0]!, a[1] ?? NONE]);
              return a[1] ?? NONE;
            });
          case 'update':
            return native((a, kw) => {
              const other = this.makeDict(a, kw);
              if (other.k === 'dict') {
                if (other.taint) v.taint = other.taint;
                for (const [h, e] of other.entries) v.entries.set(h, e);
              }
              return NONE;
            });
          case 'copy':
            return native(() => ({ k: 'dict', entries: new Map(v.entries), taint: v.taint }));
          default:
            return unknown(`dict.${name} is not followed`);
        }
      }
      case 'str': {
        switch (name) {
          case 'format':
            return native((a, kw) => formatString(v.v, a, kw) ?? unknown(`\`${snippet(node)}\`: a format not followed`));
          case 'lower':
            return native(() => str(v.v.toLowerCase()));
          case 'upper':
            return native(() => str(v.v.toUpperCase()));
          case 'startswith':
            return native((a) => (a[0]?.k === 'str' ? bool(v.v.startsWith(a[0].v)) : unknown('startswith()')));
          case 'endswith':
            return native((a) => (a[0]?.k === 'str' ? bool(v.v.endsWith(a[0].v)) : unknown('endswith()')));
          case 'split':
            return native((a) => ({ k: 'list', items: (a[0]?.k === 'str' ? v.v.split(a[0].v) : v.v.trim().split(/\s+/)).map(str) }));
          case 'join':
            return native((a) => {
              const items = it.iterate(a[0] ?? NONE, undefined);
              if (isUnknown(items) || !items.every((x) => x.k === 'str')) return unknown('join()');
              return str(items.map((x) => (x as { v: string }).v).join(v.v));
            });
          case 'replace':
            return native((a) => (a[0]?.k === 'str' && a[1]?.k === 'str' ? str(v.v.split(a[0].v).join(a[1].v)) : unknown('replace()')));
          case 'strip':
            return native(() => str(v.v.trim()));
          default:
            return unknown(`str.${name}`);
        }
      }
      case 'int':
      case 'float':
        if (name === 'is_integer') return native(() => bool(Number.isInteger(v.v)));
        return unknown(`${v.k}.${name}`);
      case 'tensor':
        return this.tensorAttr(v.t, name, node);
      case 'layer':
        return this.layerAttr(v.layer, name, node);
      case 'func':
      case 'bound':
        if (name === '__name__') return str(v.k === 'func' ? v.fn.name : '?');
        return unknown(`attribute ${name} of a function`);
      case 'partial':
        if (name === 'func') return v.fn;
        if (name === 'keywords') return { k: 'dict', entries: new Map([...v.kwargs].map(([k, x]) => [`s:${k}`, [str(k), x]])) };
        return unknown(`partial.${name}`);
      default:
        return unknown(`\`${snippet(node)}\` (${name} of a ${v.k}) is not known`);
    }
  }

  private layerAttr(layer: Layer, name: string, _node: Node | undefined): Value {
    const it = this.it;
    const native = (call: (a: Args, kw: Kwargs, n: Node | undefined) => Value): Value => ({ k: 'native', name, call });
    const own = layer.args[`.${name}`];
    if (own) return own;
    const short = layer.cls.split('.').pop()!;
    if (layer.framework === 'torch') {
      if (short === 'Conv2d' && name === 'bias') {
        // None without a bias, as PyTorch's conv.bias; else the bias tensor of this layer.
        const b = layer.args.bias;
        if (b?.k === 'bool' && !b.v) return NONE;
        if (b?.k !== 'bool') return unknown(`whether the conv has a bias is not known${b?.k === 'unknown' ? ` (${b.reason})` : ''}`);
        const t: TensorInfo = { framework: 'torch', reason: 'a bias tensor' };
        this.parameterOf.set(t, { layer, role: 'bias' });
        return { k: 'tensor', t };
      }
      if (name in layer.args && !name.startsWith('#')) {
        const v = layer.args[name]!;
        // PyTorch stores conv sizes as pairs.
        if (short === 'Conv2d' && ['kernel_size', 'stride', 'padding', 'dilation'].includes(name) && v.k === 'int') return tuple([v, v]);
        return v;
      }
      if (layer.children) {
        switch (name) {
          case 'append':
            return native((a) => {
              this.containerSet(layer, String(layer.children!.length), a[0] ?? NONE);
              return { k: 'layer', layer };
            });
          case 'extend':
            return native((a) => {
              const items = it.iterate(a[0] ?? NONE, undefined);
              if (isUnknown(items)) layer.args.__tainted__ = items;
              else for (const x of items) this.containerSet(layer, String(layer.children!.length), x);
              return { k: 'layer', layer };
            });
          case 'insert':
            return native(() => {
              layer.args.__tainted__ = unknown('insert() into a container');
              return NONE;
            });
          case 'add_module':
          case 'register_module':
            return native((a) => {
              if (a[0]?.k !== 'str') layer.args.__tainted__ = unknown('add_module() with a name not known');
              else this.containerSet(layer, a[0].v, a[1] ?? NONE);
              return NONE;
            });
          case 'items':
            return native(() => ({ k: 'list', items: layer.children!.map((c, i) => tuple([str(layer.childNames?.[i] ?? String(i)), c])) }));
          case 'keys':
            return native(() => ({ k: 'list', items: (layer.childNames ?? []).map(str) }));
          case 'values':
            return native(() => ({ k: 'list', items: [...layer.children!] }));
          case 'children':
          case 'modules':
            return native(() => ({ k: 'list', items: name === 'modules' ? this.descendants({ k: 'layer', layer }, true) : [...layer.children!] }));
          default:
            break;
        }
        const at = layer.childNames?.indexOf(name) ?? -1;
        if (at >= 0) return layer.children[at]!;
      }
      if (name === 'weight') {
        // A conv's weight (its shape where the arguments say it) remembers its layer, so that
        // F.conv2d(x, self.weight, ...) in a subclass's forward() applies that layer.
        const [cin, cout, groups] = ['in_channels', 'out_channels', 'groups'].map((n) =>
          layer.args[n]?.k === 'int' ? (layer.args[n] as { v: number }).v : undefined,
        );
        const kernel = this.ints(layer.args.kernel_size);
        const [kh, kw] = kernel?.length === 1 ? [kernel[0]!, kernel[0]!] : kernel?.length === 2 ? kernel : [];
        const shape = short === 'Conv2d' && cin && cout && groups && kh && kw && cin % groups === 0 ? [cout, cin / groups, kh, kw] : undefined;
        const t: TensorInfo = shape ? { framework: 'torch', shape } : { framework: 'torch', reason: 'a weight tensor' };
        if (short === 'Conv2d') this.parameterOf.set(t, { layer, role: 'weight' });
        return { k: 'tensor', t };
      }
      if (name === 'bias') return { k: 'tensor', t: { framework: 'torch', reason: 'a bias tensor' } };
      if (['eval', 'train', 'cuda', 'cpu', 'to', 'float', 'requires_grad_'].includes(name)) return native(() => ({ k: 'layer', layer }));
      if (name === 'modules') return native(() => ({ k: 'list', items: [{ k: 'layer', layer }] }));
      if (name === 'children') return native(() => ({ k: 'list', items: [] }));
      if (name === 'forward') return native((a, kw, n) => this.applyLayer(layer, a, kw, n));
      return unknown(`${short}.${name} is not known`);
    }
    // Keras
    switch (name) {
      case 'add':
        return native((a) => {
          this.kerasSequentialAdd(layer, a[0] ?? NONE);
          return NONE;
        });
      case 'build':
        return native((a) => {
          const shape = a[0] ?? NONE;
          const dims = shape.k === 'tuple' || shape.k === 'list' ? shape.items.map((d) => (d.k === 'none' ? 1 : num(d))) : undefined;
          if (dims && dims.every((d) => d !== undefined)) {
            layer.kerasInput = { framework: 'keras', shape: dims };
            this.kerasSequentialRun(layer);
          }
          return NONE;
        });
      case 'compile':
      case 'summary':
      case 'fit':
      case 'save':
      case 'load_weights':
        return native(() => NONE);
      case 'output':
        return layer.kerasOutput ? { k: 'tensor', t: layer.kerasOutput } : unknown('the model output is not known');
      case 'input':
        return layer.kerasInput ? { k: 'tensor', t: layer.kerasInput } : unknown('the model input is not known');
      case 'layers':
        return { k: 'list', items: [...(layer.children ?? [])] };
      default:
        break;
    }
    if (name in layer.args) return layer.args[name]!;
    return unknown(`${short}.${name} is not known`);
  }

  // -------------------------------------------------------------------------------------------
  // Tensors

  private tensorAttr(t: TensorInfo, name: string, _node: Node | undefined): Value {
    const native = (call: (a: Args, kw: Kwargs, n: Node | undefined) => Value): Value => ({ k: 'native', name, call });
    const self: Value = { k: 'tensor', t };
    if (isNumpyArray(self) && !['shape', 'ndim', 'size'].includes(name))
      return native((a) => numpyMethod(self.t, name, a) ?? unknown(`ndarray.${name}() is not followed`));
    switch (name) {
      case 'shape':
        return this.sizeOf(t);
      case 'data':
      case 'T':
        return name === 'data' ? self : this.tensorFunction('t', [self], new Map(), undefined)!;
      case 'ndim':
        return t.shape ? int(t.shape.length) : unknown(t.reason ?? 'shape not known');
      case 'size':
        return native((a) => {
          const size = this.sizeOf(t);
          if (a.length === 0) return size;
          return size.k === 'tuple' ? this.dimAt(size.items, a[0]!) : size;
        });
      case 'dim':
      case 'ndimension':
        return native(() => (t.shape ? int(t.shape.length) : t.pending ? int(4) : unknown(t.reason ?? 'shape not known')));
      case 'numel':
      case 'nelement':
        return native(() => (t.shape ? int(t.shape.reduce((x, y) => x * y, 1)) : unknown(t.reason ?? 'shape not known')));
      case 'device':
      case 'dtype':
        return unknown(`tensor.${name}`);
      case 'is_cuda':
        // Measured and estimated on the CPU.
        return bool(false);
      case 'item':
        if (t.items) return native(() => (t.items!.length === 1 ? t.items![0]! : unknown(`item() of a tensor of ${t.items!.length} values`)));
        return native(() => unknown('tensor.item(): the values are not known'));
      case 'tolist':
        if (t.items && t.shape?.length === 1) return native(() => ({ k: 'list', items: [...t.items!] }));
        if (t.items && t.shape?.length === 0) return native(() => t.items![0]!);
        return native(() => unknown('tensor.tolist(): the values are not known'));
      default:
        return native((a, kw, n) => this.tensorFunction(name, [self, ...a], kw, n) ?? unknown(`tensor.${name}() is not followed`));
    }
  }

  private sizeOf(t: TensorInfo): Value {
    if (t.shape) return tuple(t.shape.map(int));
    if (t.pending) return tuple([int(1), unknown(`the channels of the model's input are not known yet`), int(t.pending[0]), int(t.pending[1])]);
    return unknown(t.reason ?? 'shape not known');
  }

  private dimAt(items: Value[], d: Value): Value {
    const i = num(d);
    if (i === undefined) return unknown('size() of a dim not known');
    return items[i < 0 ? items.length + i : i] ?? unknown('dim out of range');
  }

  /** The tensor a value is, or an unknown tensor with the value's reason. */
  private tensor(v: Value | undefined, fw: Framework): TensorInfo {
    if (v?.k === 'tensor') return v.t.pending && v.t.hint ? { framework: v.t.framework, shape: v.t.hint } : v.t;
    if (v?.k === 'unknown') return { framework: fw, reason: v.reason };
    return { framework: fw, reason: `\`${v ? repr(v) : 'nothing'}\` is not a tensor` };
  }

  private t(shape: number[] | undefined, fw: Framework, reason?: string): Value {
    if (shape && shape.some((d) => !Number.isInteger(d) || d < 0))
      return { k: 'tensor', t: { framework: fw, reason: reason ?? 'a shape with a negative size (the code would raise)' } };
    return { k: 'tensor', t: shape ? { framework: fw, shape } : { framework: fw, reason: reason ?? 'shape not known' } };
  }

  private unknownT(t: TensorInfo, what: string): Value {
    if (t.pending)
      return {
        k: 'tensor',
        t: { framework: t.framework, reason: `the model's input size is not given, and ${what} comes before any layer that says its channels` },
      };
    return { k: 'tensor', t: { framework: t.framework, reason: t.reason ?? 'shape not known' } };
  }

  private ints(v: Value | undefined): number[] | undefined {
    if (!v) return undefined;
    if (v.k === 'int') return [v.v];
    if ((v.k === 'tuple' || v.k === 'list') && v.items.every((x) => x.k === 'int')) return v.items.map((x) => (x as { v: number }).v);
    return undefined;
  }

  /** Functions of torch, torch.nn.functional and tensor methods. Undefined: not known here. */
  private torchFunction(fn: string, args: Args, kwargs: Kwargs, node: Node | undefined): Value | undefined {
    switch (fn) {
      case 'randn':
      case 'rand':
      case 'zeros':
      case 'ones':
      case 'empty':
      case 'randint':
      case 'full': {
        const dims =
          args.length === 1 && (args[0]!.k === 'tuple' || args[0]!.k === 'list')
            ? this.ints(args[0])
            : fn === 'randint' || fn === 'full'
              ? undefined
              : this.ints(tuple(args));
        if (fn === 'randint') {
          const size = this.ints(args[args.length - 1] ?? kwargs.get('size'));
          return this.t(size, 'torch', 'randint() size not known');
        }
        if (fn === 'full') return this.t(this.ints(args[0]), 'torch', 'full() size not known');
        return this.t(dims, 'torch', `${fn}() size not known`);
      }
      case 'einsum':
        return this.einsum(args, kwargs);
      case 'zeros_like':
      case 'ones_like':
      case 'empty_like':
      case 'rand_like':
      case 'randn_like':
      case 'full_like': {
        // A new tensor of the same shape (its values are not followed).
        const like = args[0] ?? kwargs.get('input');
        if (like?.k !== 'tensor') return this.t(undefined, 'torch', `${fn}() of something not a tensor`);
        const t = this.tensor(like, 'torch');
        return t.shape ? this.t(t.shape, t.framework) : { k: 'tensor', t: { ...t, items: undefined } };
      }
      case 'linspace':
      case 'arange':
        return this.knownRange(fn, args, kwargs);
      case 'no_grad':
      case 'enable_grad':
      case 'manual_seed':
      case 'set_grad_enabled':
        return NONE;
      case 'Size':
        return args[0] ? tuple(this.ints(args[0])?.map(int) ?? []) : tuple([]);
      case 'Tensor':
      case 'FloatTensor': {
        // The legacy constructor: torch.Tensor(1, C, 1) is an uninitialised tensor of that size
        // (nn.Parameter(torch.Tensor(...)) in older model code); from a list or tuple, its data.
        const size = args.length > 0 && args.every((a) => a.k === 'int') ? this.ints(tuple(args)) : undefined;
        return this.t(size, 'torch', `torch.${fn}() of data, or of a size not known`);
      }
      case 'tensor':
      case 'as_tensor':
      case 'from_numpy': {
        // The shape of data known here: a numpy array of known values, or (nested) lists of numbers.
        const data = args[0] ?? kwargs.get('data') ?? kwargs.get('ndarray');
        const shape = data ? dataShape(data) : undefined;
        return this.t(shape, 'torch', 'a tensor made from data');
      }
      case 'autograd.Variable':
      case 'Variable':
        // The old wrapper of a tensor: the tensor.
        return args[0] ?? unknown('Variable() of nothing');
      case 'jit.is_scripting':
      case 'jit.is_tracing':
      case 'is_tensor':
        return bool(false);
      case 'cuda.is_available':
        return unknown('torch.cuda.is_available()');
      default:
        return this.tensorFunction(fn, args, kwargs, node);
    }
  }

  /**
   * torch.linspace(start, end, steps) and torch.arange([start,] end[, step]) of known numbers: a 1-D
   * tensor that knows its values (up to KNOWN_ITEMS of them), else one of known length at least.
   */
  private knownRange(fn: 'linspace' | 'arange', args: Args, kwargs: Kwargs): Value {
    const numbers = (values: (Value | undefined)[]) => values.map((v) => (v && (v.k === 'int' || v.k === 'float') ? v : undefined));
    if (fn === 'linspace') {
      const [start, end, steps] = numbers([this.arg(args, kwargs, 0, 'start'), this.arg(args, kwargs, 1, 'end'), this.arg(args, kwargs, 2, 'steps')]);
      if (!start || !end || steps?.k !== 'int' || steps.v < 0) return this.t(undefined, 'torch', 'linspace() of numbers not known');
      const n = steps.v;
      if (n > KNOWN_ITEMS) return this.t([n], 'torch');
      // float32 arithmetic, as torch computes it: start + i * (end - start) / (steps - 1), the last one `end`.
      const step = n > 1 ? (end.v - start.v) / (n - 1) : 0;
      const items = Array.from({ length: n }, (_, i): Value => ({ k: 'float', v: Math.fround(i === n - 1 && n > 1 ? end.v : start.v + i * step) }));
      return { k: 'tensor', t: { framework: 'torch', shape: [n], items } };
    }
    const given = numbers(args.length ? args.slice(0, 3) : [kwargs.get('start'), kwargs.get('end'), kwargs.get('step')].filter(Boolean));
    if (given.length === 0 || given.some((v) => !v)) return this.t(undefined, 'torch', 'arange() of numbers not known');
    const [start, end, step] = given.length === 1 ? [int(0), given[0]!, int(1)] : [given[0]!, given[1]!, given[2] ?? int(1)];
    const s0 = (start as { v: number }).v;
    const e0 = (end as { v: number }).v;
    const d = (step as { v: number }).v;
    if (d === 0) throw new RaiseError('arange() step 0');
    const n = Math.max(0, Math.ceil((e0 - s0) / d));
    const integer = start.k === 'int' && end.k === 'int' && step.k === 'int';
    if (!integer || n > KNOWN_ITEMS) return this.t([n], 'torch');
    return { k: 'tensor', t: { framework: 'torch', shape: [n], items: Array.from({ length: n }, (_, i) => int(s0 + i * d)) } };
  }

  private arg(args: Args, kwargs: Kwargs, i: number, name: string): Value | undefined {
    // torch takes numpy's `axis=` for `dim=` (torch.mean(x, axis=[2, 3])).
    return args[i] ?? kwargs.get(name) ?? (name === 'dim' ? kwargs.get('axis') : undefined);
  }

  /** A tensor function's result; known values (TensorInfo.items) survive only the functions that keep them as they are. */
  private tensorFunction(fn: string, args: Args, kwargs: Kwargs, node: Node | undefined): Value | undefined {
    if (SHAPE_IN_PLACE.has(fn)) {
      // x.unsqueeze_(1): the result has the shape unsqueeze(1) gives, and x itself changed. The
      // tensor x was is forgotten (other names for it may remain here), never left with its old shape.
      const x = args[0];
      const result = this.tensorFunctionOf(fn.slice(0, -1), args, kwargs, node);
      if (x?.k === 'tensor' && !(result?.k === 'tensor' && result.t === x.t)) {
        const t = x.t as { shape?: number[]; reason?: string; items?: Value[]; pending?: [number, number]; hint?: number[] };
        delete t.shape;
        delete t.items;
        delete t.pending;
        delete t.hint;
        t.reason = `the tensor was changed in place by ${fn}()`;
      }
      return result;
    }
    const result = this.tensorFunctionOf(fn, args, kwargs, node);
    if (result?.k !== 'tensor' || !result.t.items) return result;
    if (fn === 'float' || fn === 'double')
      return { k: 'tensor', t: { ...result.t, items: result.t.items.map((v): Value => (v.k === 'int' ? { k: 'float', v: v.v } : v)) } };
    if (VALUE_KEEPING.has(fn)) return result;
    const { items: _dropped, ...t } = result.t;
    return { k: 'tensor', t };
  }

  private tensorFunctionOf(fn: string, args: Args, kwargs: Kwargs, node: Node | undefined): Value | undefined {
    // F.upsample(input=x, size=...): the tensor given by keyword is the first argument.
    if (args.length === 0 && kwargs.has('input')) {
      args = [kwargs.get('input')!];
      kwargs = new Map([...kwargs].filter(([k]) => k !== 'input'));
    }
    const x = args[0];
    if (SAME_FUNCTIONS.has(fn)) {
      if (['add', 'sub', 'mul', 'div'].includes(fn) && args[1])
        return this.tensorBinary(fn === 'add' ? '+' : fn === 'sub' ? '-' : fn === 'mul' ? '*' : '/', x ?? NONE, args[1], node);
      if (x?.k === 'tensor') return x;
      return x?.k === 'unknown' ? { k: 'tensor', t: { framework: 'torch', reason: x.reason } } : undefined;
    }
    if (!x) return undefined;
    const t = this.tensor(x, 'torch');
    const fw = t.framework;
    const need = (what: string): Value | undefined => (t.shape ? undefined : this.unknownT(t, what));
    switch (fn) {
      case 'max_pool1d':
      case 'max_pool2d':
      case 'max_pool3d':
      case 'avg_pool1d':
      case 'avg_pool2d':
      case 'avg_pool3d':
      case 'max_pool2d_with_indices': {
        const dims = Number(fn.charAt(fn.indexOf('pool') + 4));
        const average = fn.startsWith('avg');
        const k = this.ints(this.arg(args, kwargs, 1, 'kernel_size'));
        const sv = this.arg(args, kwargs, 2, 'stride');
        const s = sv === undefined || sv.k === 'none' || (sv.k === 'tuple' && sv.items.length === 0) ? k : this.ints(sv);
        const p = this.ints(this.arg(args, kwargs, 3, 'padding') ?? int(0));
        const d = average ? [1] : this.ints(this.arg(args, kwargs, 4, 'dilation') ?? int(1));
        const ceilV = this.arg(args, kwargs, average ? 4 : 5, 'ceil_mode') ?? bool(false);
        const n = need(`F.${fn}`);
        if (n) return n;
        if (!k || !s || !p || !d || truthy(ceilV) === undefined) return this.t(undefined, fw, `the arguments of F.${fn} are not known`);
        const pooled = this.t(poolShapeNd(t.shape!, dims, k, s, p, d, truthy(ceilV)!), fw, `F.${fn}: the output would be empty or its input is not ${dims}-D`);
        if (average) return pooled;
        // return_indices=True (or max_pool2d_with_indices): the output and its maxima's indices, of the same shape.
        const indices = fn.endsWith('_with_indices') ? true : truthy(this.arg(args, kwargs, 6, 'return_indices') ?? bool(false));
        if (indices === undefined) return this.t(undefined, fw, `whether F.${fn} returns its indices is not known`);
        return indices ? withIndices(pooled) : pooled;
      }
      case 'max_unpool1d':
      case 'max_unpool2d':
      case 'max_unpool3d': {
        // The inverse of a max pool: (size - 1) x stride - 2 x padding + kernel on each side, or the output_size given.
        const n = need(`F.${fn}`);
        if (n) return n;
        const dims = Number(fn.slice(-2, -1));
        const r = t.shape!.length;
        if (r < dims + 1) return this.t(undefined, fw, `F.${fn} of a ${r}-D tensor`);
        const sizeArg = this.arg(args, kwargs, 5, 'output_size');
        if (sizeArg && sizeArg.k !== 'none') {
          const size = this.ints(sizeArg);
          return size && size.length >= dims
            ? this.t([...t.shape!.slice(0, r - dims), ...size.slice(-dims)], fw)
            : this.t(undefined, fw, `F.${fn} output_size not known`);
        }
        const each = (v: Value | undefined, fallback: number[] | undefined) => {
          const xs = v === undefined || v.k === 'none' ? fallback : this.ints(v);
          return xs && (xs.length === 1 ? Array<number>(dims).fill(xs[0]!) : xs.length === dims ? xs : undefined);
        };
        const k = each(this.arg(args, kwargs, 2, 'kernel_size'), undefined);
        const s = each(this.arg(args, kwargs, 3, 'stride'), k);
        const p = each(this.arg(args, kwargs, 4, 'padding'), [0]);
        if (!k || !s || !p) return this.t(undefined, fw, `the arguments of F.${fn} are not known`);
        const out = t.shape!.slice(r - dims).map((size, i) => (size - 1) * s[i]! - 2 * p[i]! + k[i]!);
        return this.t([...t.shape!.slice(0, r - dims), ...out], fw);
      }
      case 'adaptive_avg_pool2d':
      case 'adaptive_max_pool2d':
      case 'adaptive_avg_pool1d':
      case 'adaptive_avg_pool3d':
      case 'adaptive_max_pool1d':
      case 'adaptive_max_pool3d': {
        const n = need(`F.${fn}`);
        if (n) return n;
        return this.adaptiveNd(t, this.arg(args, kwargs, 1, 'output_size') ?? NONE, Number(fn.slice(-2, -1)));
      }
      case 'interpolate':
      case 'upsample':
      case 'upsample_nearest':
      case 'upsample_bilinear': {
        const n = need(`F.${fn}`);
        if (n) return n;
        return this.resize(t, this.arg(args, kwargs, 1, 'size') ?? NONE, this.arg(args, kwargs, 2, 'scale_factor') ?? NONE);
      }
      case 'pad': {
        const xp = args[0] ?? kwargs.get('input');
        const pads = this.ints(this.arg(args, kwargs, 1, 'pad'));
        if (xp?.k === 'tensor' && xp.t.pending && pads?.length === 4) return this.padPending(xp.t, pads);
        const n = need('F.pad');
        if (n) return n;
        const p = this.ints(this.arg(args, kwargs, 1, 'pad'));
        if (!p || p.length % 2) return this.t(undefined, fw, 'F.pad with a padding not known');
        const shape = [...t.shape!];
        for (let i = 0; i < p.length / 2; i++) shape[shape.length - 1 - i]! += p[2 * i]! + p[2 * i + 1]!;
        return this.t(shape, fw);
      }
      case 'cat':
      case 'concat':
      case 'concatenate':
      case 'stack': {
        const items = this.it.iterate(x, undefined);
        if (isUnknown(items)) return this.t(undefined, 'torch', items.reason);
        const d = num(this.arg(args, kwargs, 1, 'dim') ?? int(0));
        if (d === undefined) return this.t(undefined, 'torch', `torch.${fn} along a dim not known`);
        const ts = items.map((v) => this.tensor(v, 'torch'));
        const bad = ts.find((q) => !q.shape);
        if (bad) return this.unknownT(bad, `torch.${fn}`);
        const shapes = ts.map((q) => q.shape!);
        if (shapes.length === 0) return this.t(undefined, 'torch', `torch.${fn} of nothing`);
        const rank = shapes[0]!.length;
        if (fn === 'stack') {
          const at = d < 0 ? rank + 1 + d : d;
          if (!shapes.every((s) => s.join() === shapes[0]!.join())) return this.t(undefined, 'torch', 'torch.stack of different shapes (the code would raise)');
          const out = [...shapes[0]!];
          out.splice(at, 0, shapes.length);
          return this.t(out, 'torch');
        }
        const at = d < 0 ? rank + d : d;
        const ok = shapes.every((s) => s.length === rank && s.every((v, i) => i === at || v === shapes[0]![i]));
        if (!ok) return this.t(undefined, 'torch', 'torch.cat of shapes that do not match (the code would raise)');
        const out = [...shapes[0]!];
        out[at] = shapes.reduce((acc, s) => acc + s[at]!, 0);
        return this.t(out, 'torch');
      }
      case 'flatten': {
        const n = need('flatten');
        if (n) return n;
        const s0 = num(this.arg(args, kwargs, 1, 'start_dim') ?? int(0));
        const e0 = num(this.arg(args, kwargs, 2, 'end_dim') ?? int(-1));
        if (s0 === undefined || e0 === undefined) return this.t(undefined, fw, 'flatten dims not known');
        const r = t.shape!.length;
        const s = s0 < 0 ? r + s0 : s0;
        const e = e0 < 0 ? r + e0 : e0;
        const shape = [...t.shape!.slice(0, s), t.shape!.slice(s, e + 1).reduce((a, b) => a * b, 1), ...t.shape!.slice(e + 1)];
        return this.t(shape, fw);
      }
      case 'view':
      case 'reshape': {
        const n = need(fn);
        if (n) return n;
        const rest = args.slice(1);
        const spec =
          rest.length === 1 && (rest[0]!.k === 'tuple' || rest[0]!.k === 'list')
            ? rest[0].items
            : rest.length === 0 && kwargs.get('shape')
              ? ((kwargs.get('shape') as { items: Value[] }).items ?? [])
              : rest;
        const bad = spec.find((d) => d.k !== 'int');
        if (bad) return this.t(undefined, fw, `${fn}() with a size not known${bad.k === 'unknown' ? ` (${bad.reason})` : ''}`);
        return this.t(
          reshape(
            t.shape!,
            spec.map((d) => (d as { v: number }).v),
          ),
          fw,
          `${fn}() to a shape that does not fit (the code would raise)`,
        );
      }
      case 'view_as':
      case 'reshape_as':
      case 'expand_as': {
        const other = this.tensor(args[1], fw);
        return other.shape ? this.t(other.shape, fw) : this.unknownT(other, fn);
      }
      case 'transpose':
      case 'swapaxes': {
        const n = need(fn);
        if (n) return n;
        const a = num(args[1] ?? NONE);
        const b = num(args[2] ?? NONE);
        if (a === undefined || b === undefined) return this.t(undefined, fw, 'transpose dims not known');
        const shape = [...t.shape!];
        const r = shape.length;
        const [i, j] = [a < 0 ? r + a : a, b < 0 ? r + b : b];
        [shape[i], shape[j]] = [shape[j]!, shape[i]!];
        return this.t(shape, fw);
      }
      case 't': {
        const n = need(fn);
        if (n) return n;
        return this.t([...t.shape!].reverse(), fw);
      }
      case 'permute': {
        const n = need(fn);
        if (n) return n;
        const dims = args.length === 2 ? this.ints(args[1]) : this.ints(tuple(args.slice(1)));
        if (!dims || dims.length !== t.shape!.length) return this.t(undefined, fw, 'permute dims not known');
        return this.t(
          dims.map((d) => t.shape![d < 0 ? t.shape!.length + d : d]!),
          fw,
        );
      }
      case 'max':
      case 'min': {
        // max(x): one value; max(x, dim, keepdim): (values, indices), as a namedtuple; max(x, y): elementwise.
        const n = need(fn);
        if (n) return n;
        const dv = this.arg(args, kwargs, 1, 'dim');
        if (dv === undefined) return this.t([], fw);
        if (dv.k === 'tensor') return this.tensorBinary('+', x, dv, node);
        const d = num(dv);
        const keep = truthy(this.arg(args, kwargs, 2, 'keepdim') ?? bool(false));
        if (d === undefined || keep === undefined) return this.t(undefined, fw, `${fn}() dim not known`);
        const r = t.shape!.length;
        const at = d < 0 ? r + d : d;
        if (at < 0 || at >= r) return this.t(undefined, fw, `${fn}() dim out of range (the code would raise)`);
        const shape = keep ? t.shape!.map((s, i) => (i === at ? 1 : s)) : t.shape!.filter((_, i) => i !== at);
        return tuple([this.t(shape, fw), this.t(shape, fw)]);
      }
      case 'mean':
      case 'sum':
      case 'amax':
      case 'amin':
      case 'std':
      case 'var':
      case 'logsumexp':
      case 'norm': {
        const n = need(fn);
        if (n) return n;
        const dv = this.arg(args, kwargs, 1, 'dim');
        const keep = truthy(this.arg(args, kwargs, 2, 'keepdim') ?? bool(false));
        if (dv === undefined || dv.k === 'none') return this.t(keep ? t.shape!.map(() => 1) : [], fw);
        const dims = this.ints(dv);
        if (!dims || keep === undefined) return this.t(undefined, fw, `${fn}() dims not known`);
        const r = t.shape!.length;
        const set = new Set(dims.map((d) => (d < 0 ? r + d : d)));
        const shape = keep ? t.shape!.map((s, i) => (set.has(i) ? 1 : s)) : t.shape!.filter((_, i) => !set.has(i));
        return this.t(shape, fw);
      }
      case 'squeeze': {
        const n = need(fn);
        if (n) return n;
        const d = args[1] === undefined ? undefined : num(args[1]);
        if (args[1] !== undefined && d === undefined) return this.t(undefined, fw, 'squeeze dim not known');
        if (d === undefined)
          return this.t(
            t.shape!.filter((s) => s !== 1),
            fw,
          );
        const at = d < 0 ? t.shape!.length + d : d;
        return this.t(t.shape![at] === 1 ? t.shape!.filter((_, i) => i !== at) : t.shape!, fw);
      }
      case 'unsqueeze': {
        const n = need(fn);
        if (n) return n;
        const d = num(this.arg(args, kwargs, 1, 'dim') ?? NONE);
        if (d === undefined) return this.t(undefined, fw, 'unsqueeze dim not known');
        const shape = [...t.shape!];
        shape.splice(d < 0 ? shape.length + 1 + d : d, 0, 1);
        return this.t(shape, fw);
      }
      case 'chunk': {
        const n = need(fn);
        const chunks = num(args[1] ?? kwargs.get('chunks') ?? NONE);
        const d = num(this.arg(args, kwargs, 2, 'dim') ?? int(0));
        if (n || chunks === undefined || d === undefined) return unknown(n ? (n as { t: TensorInfo }).t.reason! : 'chunk() arguments not known');
        const at = d < 0 ? t.shape!.length + d : d;
        const size = Math.ceil(t.shape![at]! / chunks);
        const out: Value[] = [];
        for (let left = t.shape![at]!; left > 0; left -= size) {
          const shape = [...t.shape!];
          shape[at] = Math.min(size, left);
          out.push(this.t(shape, fw));
        }
        return tuple(out);
      }
      case 'unbind': {
        // A tuple of the slices along `dim`, each without that dimension.
        const n = need(fn);
        const d = num(this.arg(args, kwargs, 1, 'dim') ?? int(0));
        if (n || d === undefined) return unknown(n ? (n as { t: TensorInfo }).t.reason! : 'unbind() arguments not known');
        const at = d < 0 ? t.shape!.length + d : d;
        if (at < 0 || at >= t.shape!.length) return unknown(`unbind(${d}) of a ${t.shape!.length}-D tensor (the code would raise)`);
        const rest = t.shape!.filter((_, i) => i !== at);
        return tuple(Array.from({ length: t.shape![at]! }, () => this.t([...rest], fw)));
      }
      case 'split':
      case 'split_with_sizes':
      case 'tensor_split': {
        if (fn === 'tensor_split') return undefined;
        const n = need(fn);
        const sv = args[1] ?? kwargs.get('split_size_or_sections') ?? kwargs.get('split_size');
        const d = num(this.arg(args, kwargs, 2, 'dim') ?? int(0));
        if (n || !sv || d === undefined) return unknown(n ? (n as { t: TensorInfo }).t.reason! : 'split() arguments not known');
        const at = d < 0 ? t.shape!.length + d : d;
        const total = t.shape![at]!;
        let sizes: number[] | undefined;
        if (sv.k === 'int') {
          sizes = [];
          for (let left = total; left > 0; left -= sv.v) sizes.push(Math.min(sv.v, left));
        } else sizes = this.ints(sv);
        if (!sizes || sizes.reduce((a, b) => a + b, 0) !== total) return unknown('split() sizes not known or do not add up');
        return tuple(
          sizes.map((s) => {
            const shape = [...t.shape!];
            shape[at] = s;
            return this.t(shape, fw);
          }),
        );
      }
      case 'repeat': {
        // Each dimension times its count; more counts than dimensions add leading ones.
        const n = need(fn);
        if (n) return n;
        const counts = args.length === 2 ? this.ints(args[1]) : this.ints(tuple(args.slice(1)));
        if (!counts || counts.length < t.shape!.length || counts.some((c) => c < 0)) return this.t(undefined, fw, 'repeat() counts not known');
        const padded = [...Array<number>(counts.length - t.shape!.length).fill(1), ...t.shape!];
        return this.t(
          padded.map((s, i) => s * counts[i]!),
          fw,
        );
      }
      case 'expand': {
        const n = need(fn);
        if (n) return n;
        const dims = args.length === 2 ? this.ints(args[1]) : this.ints(tuple(args.slice(1)));
        if (!dims) return this.t(undefined, fw, 'expand sizes not known');
        const off = dims.length - t.shape!.length;
        return this.t(
          dims.map((d, i) => (d === -1 ? t.shape![i - off]! : d)),
          fw,
        );
      }
      case 'size':
        return this.tensorAttr(t, 'size', node);
      case 'conv2d': {
        const weight = this.arg(args, kwargs, 1, 'weight');
        const of = weight?.k === 'tensor' ? this.parameterOf.get(weight.t) : undefined;
        // The model's own input stays pending: the layer's in_channels say its channels, not a hint from another layer.
        const raw = args[0] ?? kwargs.get('input');
        if (of?.role === 'weight') return this.functionalConv(of.layer, raw?.k === 'tensor' && raw.t.pending ? raw.t : t, args, kwargs);
        if (weight?.k === 'tensor' && weight.t.shape?.length === 4) {
          // The model's own input, its channels not said yet: the weight says them.
          const x = args[0] ?? kwargs.get('input');
          const groups = this.arg(args, kwargs, 6, 'groups') ?? int(1);
          const input =
            x?.k === 'tensor' && x.t.pending && groups.k === 'int' ? { framework: fw, shape: [1, weight.t.shape[1]! * groups.v, ...x.t.pending] } : t;
          return this.weightConv(input, weight.t.shape, args, kwargs);
        }
        return this.t(undefined, fw, "conv2d() with a weight that is not a conv layer's is not followed");
      }
      case 'matmul':
      case 'mm':
      case 'bmm':
        return this.matmul(fn, x, this.arg(args, kwargs, 1, fn === 'matmul' ? 'other' : 'mat2') ?? NONE);
      case 'linear':
      case 'embedding':
        return this.t(undefined, fw, `${fn}() is not followed`);
      default:
        return undefined;
    }
  }

  /**
   * torch.matmul's shape (and mm's, 2-D only, and bmm's, 3-D only): 1-D operands are promoted and
   * the added dimension removed, the dimensions before the last two broadcast; the inner sizes must agree.
   */
  private matmul(fn: string, a: Value, b: Value): Value {
    const ta = this.tensor(a, 'torch');
    const tb = this.tensor(b, 'torch');
    const fw = a.k === 'tensor' ? ta.framework : tb.framework;
    if (!ta.shape || !tb.shape)
      return this.t(undefined, fw, `a matrix product of a tensor whose shape is not known (${(ta.shape ? tb : ta).reason ?? 'not known'})`);
    const [sa, sb] = [ta.shape, tb.shape];
    if ((fn === 'mm' && (sa.length !== 2 || sb.length !== 2)) || (fn === 'bmm' && (sa.length !== 3 || sb.length !== 3 || sa[0] !== sb[0])))
      return this.t(undefined, fw, `${fn}() of ${sa.join('×')} and ${sb.join('×')} (the code would raise)`);
    if (sa.length === 0 || sb.length === 0) return this.t(undefined, fw, 'a matrix product of a 0-D tensor (the code would raise)');
    const left = sa.length === 1 ? [1, sa[0]!] : sa;
    const right = sb.length === 1 ? [sb[0]!, 1] : sb;
    if (left[left.length - 1] !== right[right.length - 2])
      return this.t(undefined, fw, `a matrix product of ${sa.join('×')} and ${sb.join('×')} (the code would raise)`);
    const batchA = left.slice(0, -2);
    const batchB = right.slice(0, -2);
    const rank = Math.max(batchA.length, batchB.length);
    const batch: number[] = [];
    for (let i = 0; i < rank; i++) {
      const da = batchA[batchA.length - rank + i] ?? 1;
      const db = batchB[batchB.length - rank + i] ?? 1;
      if (da !== db && da !== 1 && db !== 1) return this.t(undefined, fw, `a matrix product of ${sa.join('×')} and ${sb.join('×')} (the code would raise)`);
      batch.push(da === 1 ? db : da);
    }
    const out = [...batch, ...(sa.length === 1 ? [] : [left[left.length - 2]!]), ...(sb.length === 1 ? [] : [right[right.length - 1]!])];
    return this.t(out, fw);
  }

  /** An adaptive pool over the last `dims` dimensions: the output size given, None keeping a dimension's size. */
  private adaptiveNd(t: TensorInfo, size: Value, dims: number): Value {
    const shape = t.shape!;
    const parts =
      size.k === 'int'
        ? Array<number | null>(dims).fill(size.v)
        : size.k === 'tuple' && size.items.length === dims
          ? size.items.map((v) => (v.k === 'none' ? null : v.k === 'int' ? v.v : undefined))
          : undefined;
    if (!parts || parts.some((p) => p === undefined || (p !== null && p < 1)) || shape.length < dims + 1 || shape.length > dims + 2)
      return this.t(undefined, t.framework, `the output size of a ${dims}-D adaptive pool is not known, or its input is not ${dims}-D`);
    const r = shape.length;
    return this.t([...shape.slice(0, r - dims), ...parts.map((p, i) => p ?? shape[r - dims + i]!)], t.framework);
  }

  private resize(t: TensorInfo, size: Value, scale: Value): Value {
    const shape = t.shape!;
    const r = shape.length;
    // [N, C, L], [N, C, H, W] or [N, C, D, H, W]: every dimension after the channels.
    const dims = r - 2;
    if (dims < 1 || dims > 3) return this.t(undefined, t.framework, `interpolate of a ${r}-D tensor`);
    const each = (v: Value): (number | undefined)[] | undefined =>
      v.k === 'tuple' || v.k === 'list' ? (v.items.length === dims ? v.items.map(num) : undefined) : Array<number | undefined>(dims).fill(num(v));
    if (size.k !== 'none') {
      const s = each(size);
      if (!s || s.some((x) => x === undefined || !Number.isInteger(x) || x < 1)) return this.t(undefined, t.framework, 'interpolate size not known');
      return this.t([...shape.slice(0, 2), ...(s as number[])], t.framework);
    }
    const f = each(scale);
    if (!f || f.some((x) => x === undefined || x <= 0)) return this.t(undefined, t.framework, 'interpolate scale not known');
    return this.t([...shape.slice(0, 2), ...shape.slice(2).map((x, i) => Math.floor(x * f[i]!))], t.framework);
  }

  tensorBinary(op: string, a: Value, b: Value, node: Node | undefined): Value {
    const fw = a.k === 'tensor' ? a.t.framework : b.k === 'tensor' ? b.t.framework : 'torch';
    const scalar = (v: Value) => v.k === 'int' || v.k === 'float' || v.k === 'bool';
    if (!['+', '-', '*', '/', '//', '%', '**', '@'].includes(op)) return this.t(undefined, fw, `\`${snippet(node)}\` is not followed`);
    if (op === '@') return this.matmul('matmul', a, b);
    if (isNumpyArray(a) || isNumpyArray(b)) {
      const r = numpyElementwise(op, a, b);
      if (r) return r;
      // Not known elementwise: an array of the same length whose values are not known.
      const t = (isNumpyArray(a) ? a : b) as { k: 'tensor'; t: TensorInfo };
      return this.t(t.t.shape, 'torch', `\`${snippet(node)}\` of a numpy array`);
    }
    if (a.k === 'tensor' && scalar(b)) return elementwise(a.t, (x) => numericBinary(op, x, b));
    if (b.k === 'tensor' && scalar(a)) return elementwise(b.t, (x) => numericBinary(op, a, x));
    const ta = this.tensor(a, fw);
    const tb = this.tensor(b, fw);
    if (ta.pending && tb.pending && ta.pending.join() === tb.pending.join()) return a;
    if (!ta.shape) return this.unknownT(ta, `\`${snippet(node)}\``);
    if (!tb.shape) return this.unknownT(tb, `\`${snippet(node)}\``);
    const out = broadcastShapes(ta.shape, tb.shape);
    return out
      ? this.t(out, fw)
      : this.t(undefined, fw, `\`${snippet(node)}\`: ${ta.shape.join('×')} and ${tb.shape.join('×')} do not broadcast (the code would raise)`);
  }

  getItem(obj: Value, key: Value, node: Node): Value {
    if (obj.k === 'lib' && obj.path === 'sys.modules')
      return (key.k === 'str' && this.it.moduleNamed(key.v)) || unknown(`sys.modules[${key.k === 'str' ? JSON.stringify(key.v) : '?'}] is not followed`);
    if (obj.k === 'layer' || (obj.k === 'obj' && obj.base)) {
      const layer = obj.k === 'layer' ? obj.layer : obj.base!;
      if (!layer.children) return unknown(`indexing ${layer.cls}`);
      if (layer.args.__tainted__) return unknown((layer.args.__tainted__ as { reason: string }).reason);
      if (key.k === 'str') {
        const at = layer.childNames?.indexOf(key.v) ?? -1;
        return at >= 0 ? layer.children[at]! : unknown(`no module ${key.v}`);
      }
      if (key.k === 'slice') {
        const items = this.it.slice(layer.children, key);
        if (isUnknown(items)) return items;
        // Sequential(*modules); a ModuleList takes them as one list.
        const seq = this.makeLayer(layer.cls, 'torch', layer.cls === 'torch.nn.ModuleList' ? [{ k: 'list', items }] : items, new Map());
        return { k: 'layer', layer: seq };
      }
      const i = num(key);
      if (i === undefined) return unknown('index not known');
      const v = layer.children[i < 0 ? layer.children.length + i : i];
      if (!v) throw new RaiseError('index out of range');
      return v;
    }
    if (obj.k === 'tensor') return this.tensorIndex(obj.t, key, node);
    if (obj.k === 'obj') {
      const getitem = this.it.classAttr(obj.cls, '__getitem__');
      if (getitem?.value.k === 'func') return this.it.callValue({ k: 'bound', fn: getitem.value, self: obj }, [key], new Map(), node);
    }
    return unknown(`\`${snippet(node)}\` is not followed`);
  }

  private tensorIndex(t: TensorInfo, key: Value, node: Node): Value {
    if (!t.shape) return this.unknownT(t, `\`${snippet(node)}\``);
    // A value of a numpy array of known values is a number; a slice of it, an array.
    if (t.numpy && t.items && t.shape.length === 1) {
      if (key.k === 'int') {
        const item = t.items[key.v < 0 ? t.items.length + key.v : key.v];
        if (!item) throw new RaiseError(`IndexError: index ${key.v} is out of bounds for an array of ${t.items.length}`);
        return item;
      }
      if (key.k === 'slice') {
        const items = this.it.slice(t.items, key);
        return isUnknown(items) ? items : numpyArray(items);
      }
    }
    // One value of a 1-D tensor of known values: a 0-d tensor that knows it.
    if (t.items && t.shape.length === 1 && key.k === 'int') {
      const item = t.items[key.v < 0 ? t.items.length + key.v : key.v];
      if (!item) throw new RaiseError(`IndexError: index ${key.v} is out of bounds for a tensor of ${t.items.length}`);
      return { k: 'tensor', t: { framework: t.framework, shape: [], items: [item] } };
    }
    const keys = key.k === 'tuple' ? key.items : [key];
    const out: number[] = [];
    let dim = 0;
    for (const k of keys) {
      if (k.k === 'none') {
        out.push(1);
        continue;
      }
      if (k.k === 'unknown' && k.reason === '...') {
        const rest = keys.length - keys.indexOf(k) - 1;
        while (t.shape.length - dim > rest) out.push(t.shape[dim++]!);
        continue;
      }
      const size = t.shape[dim];
      if (size === undefined) return this.t(undefined, t.framework, 'too many indices');
      if (k.k === 'int') {
        dim++;
        continue;
      }
      if (k.k === 'slice') {
        const range: Value[] = [];
        for (let i = 0; i < size; i++) range.push(int(i));
        const sliced = this.it.slice(range, k);
        if (isUnknown(sliced)) return this.t(undefined, t.framework, `the slice \`${snippet(node)}\` is not known`);
        out.push(sliced.length);
        dim++;
        continue;
      }
      return this.t(undefined, t.framework, `the index \`${snippet(node)}\` is not followed`);
    }
    out.push(...t.shape.slice(dim));
    return this.t(out, t.framework);
  }

  // -------------------------------------------------------------------------------------------
  // Applying layers

  /** The model's input for a top-level model: known if declared, else the default size with channels from the first layer. */
  modelInput(framework: Framework): Value {
    const declared = this.it.options.declaredInput;
    if (declared)
      return {
        k: 'tensor',
        t: { framework, shape: framework === 'keras' && declared.length === 4 ? [declared[0]!, declared[2]!, declared[3]!, declared[1]!] : [...declared] },
      };
    if (framework === 'keras') return { k: 'tensor', t: { framework, reason: "the model's input shape is not given (no Input(shape=...))" } };
    return { k: 'tensor', t: { framework, pending: [...this.it.options.defaultInputSize] } };
  }

  /** A layer built but never applied: its params where its own arguments say them. */
  recordUnapplied(layer: Layer, reason: string, neverApplied = false): void {
    this.record(layer, { ...(layer.framework === 'torch' ? this.paramsOnly(layer) : {}), reason, ...(neverApplied ? { neverApplied } : {}) });
  }

  private record(layer: Layer, fields: Omit<LayerInstance, 'site' | 'layerId' | 'framework' | 'type'>): void {
    if (!layer.site) return;
    if (layer.extraParams && fields.params !== undefined) fields = { ...fields, params: fields.params + layer.extraParams };
    if (layer.ownParameters) {
      // A subclass with parameters of its own (or without the layer's weight): its params, the
      // MACs its forward() computes and its output are not the layer's.
      this.it.instances.push({
        site: layer.site,
        layerId: layer.id,
        framework: layer.framework,
        type: layer.cls.split('.').pop()!,
        reason: `not known: ${layer.ownParameters}`,
      });
      return;
    }
    this.it.instances.push({ site: layer.site, layerId: layer.id, framework: layer.framework, type: layer.cls.split('.').pop()!, ...fields });
  }

  applyLayer(layer: Layer, args: Args, kwargs: Kwargs, node: Node | undefined): Value {
    layer.applied++;
    const short = layer.cls.split('.').pop()!;
    if (layer.framework === 'keras') return this.applyKeras(layer, args, kwargs, node);
    const x = args[0] ?? kwargs.get('input') ?? kwargs.get('x') ?? NONE;
    if (layer.cls === 'torch.nn.Sequential') {
      if (layer.args.__tainted__) return this.t(undefined, 'torch', (layer.args.__tainted__ as { reason: string }).reason);
      let v = x;
      for (const child of layer.children ?? []) v = this.it.callValue(child, [v], new Map(), node);
      return v;
    }
    if (layer.cls === 'torchvision.ops.SqueezeExcitation') {
      const [avg, fc1, act, fc2, scale] = layer.children!;
      let s = this.it.callValue(avg!, [x], new Map(), node);
      s = this.it.callValue(fc1!, [s], new Map(), node);
      s = this.it.callValue(act!, [s], new Map(), node);
      s = this.it.callValue(fc2!, [s], new Map(), node);
      s = this.it.callValue(scale!, [s], new Map(), node);
      return this.tensorBinary('*', s, x, node);
    }
    if (layer.cls === 'torch.nn.ModuleList' || layer.cls === 'torch.nn.ModuleDict') return unknown(`${short} is not callable`);
    // A model's own input: the first layer that names its channels says them.
    let t = x.k === 'tensor' ? x.t : this.tensor(x, 'torch');
    if (short === 'Conv2d') return this.applyTorchConv(layer, t);
    const nd = CONV_ND[short];
    if (nd) return this.applyConvNd(layer, t, nd.dims, nd.transposed, nd.transposed ? (args[1] ?? kwargs.get('output_size')) : undefined);
    if (short === 'Linear') return this.applyLinear(layer, t);
    if (TORCH_NORMS.has(short)) this.recordNorm(layer, short, t);
    if (short === 'BatchNorm2d') {
      const nf = layer.args.num_features!;
      if (t.pending && nf.k === 'int') t = { framework: 'torch', shape: [1, nf.v, ...t.pending] };
      if (t.shape && nf.k === 'int' && t.shape.length === 4) {
        if (t.shape[1] !== nf.v) return this.t(undefined, 'torch', `BatchNorm2d(${nf.v}) on ${t.shape[1]} channels (the code would raise)`);
        const affine = truthy(layer.args.affine ?? bool(true));
        this.record(layer, {
          params: affine ? 2 * nf.v : 0,
          macs: this.leafCost({ type: 'BatchNorm2d', num_features: nf.v, affine: affine !== false }, t.shape)?.macs,
          input: t.shape,
          output: t.shape,
        });
      }
      return t.pending ? { k: 'tensor', t } : t.shape ? this.t(t.shape, 'torch') : this.unknownT(t, 'BatchNorm2d');
    }
    if (TORCH_SAME.has(short)) return x.k === 'tensor' ? x : { k: 'tensor', t };
    // Padding the model's own input before any layer says its channels (a conv that pads first,
    // EfficientNet's Conv2dStaticSamePadding): still the model's input, larger.
    if (t.pending && /^(Zero|Reflection|Replication|Constant)Pad2d$/.test(short)) {
      const p = this.ints(layer.args.padding);
      if (p && (p.length === 1 || p.length === 4)) return this.padPending(t, p.length === 1 ? [p[0]!, p[0]!, p[0]!, p[0]!] : p);
    }
    if (t.pending && t.hint) t = { framework: 'torch', shape: t.hint };
    if (t.pending) return this.unknownT(t, short);
    if (!t.shape) return { k: 'tensor', t };
    const a = layer.args;
    switch (short) {
      case 'MaxPool1d':
      case 'MaxPool2d':
      case 'MaxPool3d':
      case 'AvgPool1d':
      case 'AvgPool2d':
      case 'AvgPool3d': {
        const dims = Number(short.slice(-2, -1));
        const k = this.ints(a.kernel_size);
        const s = a.stride!.k === 'none' ? k : this.ints(a.stride);
        const p = this.ints(a.padding);
        const average = short.startsWith('Avg');
        const d = average ? [1] : this.ints(a.dilation);
        const ceil = truthy(a.ceil_mode!);
        if (!k || !s || !p || !d || ceil === undefined) return this.t(undefined, 'torch', `the arguments of ${short} are not known`);
        const pooled = this.t(poolShapeNd(t.shape, dims, k, s, p, d, ceil), 'torch', `${short}: the output would be empty or its input is not ${dims}-D`);
        if (average) return pooled;
        // return_indices=True: the output and the indices of its maxima, of the same shape (for MaxUnpool2d).
        const indices = truthy(a.return_indices ?? bool(false));
        if (indices === undefined) return this.t(undefined, 'torch', 'whether MaxPool2d returns its indices is not known');
        return indices ? withIndices(pooled) : pooled;
      }
      case 'MaxUnpool2d': {
        // Inverse of a max pool: (H - 1) * stride - 2 * padding + kernel, or the output_size given.
        const size = args[2] ?? kwargs.get('output_size');
        const [n, c] = t.shape;
        if (t.shape.length !== 4) return this.t(undefined, 'torch', 'MaxUnpool2d of a tensor that is not [N, C, H, W]');
        if (size && size.k !== 'none') {
          const dims = this.ints(size);
          return dims && dims.length >= 2 ? this.t([n!, c!, ...dims.slice(-2)], 'torch') : this.t(undefined, 'torch', 'MaxUnpool2d output_size not known');
        }
        const k = this.ints(a.kernel_size);
        const s = a.stride!.k === 'none' ? k : this.ints(a.stride);
        const p = this.ints(a.padding);
        if (!k || !s || !p) return this.t(undefined, 'torch', 'the arguments of MaxUnpool2d are not known');
        const [kh, kw] = pairOf(k);
        const [sh, sw] = pairOf(s);
        const [ph, pw] = pairOf(p);
        return this.t([n!, c!, (t.shape[2]! - 1) * sh - 2 * ph + kh, (t.shape[3]! - 1) * sw - 2 * pw + kw], 'torch');
      }
      case 'AdaptiveAvgPool2d':
      case 'AdaptiveMaxPool2d':
      case 'AdaptiveAvgPool1d':
      case 'AdaptiveMaxPool1d':
      case 'AdaptiveAvgPool3d':
      case 'AdaptiveMaxPool3d': {
        const pooled = this.adaptiveNd(t, a.output_size!, Number(short.slice(-2, -1)));
        const indices = short.includes('Max') ? truthy(a.return_indices ?? bool(false)) : false;
        if (indices === undefined) return this.t(undefined, 'torch', `whether ${short} returns its indices is not known`);
        return indices ? withIndices(pooled) : pooled;
      }
      case 'Flatten':
        return this.tensorFunction('flatten', [{ k: 'tensor', t }, a.start_dim!, a.end_dim!], new Map(), node)!;
      case 'Upsample':
      case 'UpsamplingNearest2d':
      case 'UpsamplingBilinear2d':
        return this.resize(t, a.size!, a.scale_factor!);
      case 'PixelShuffle': {
        const r = a.upscale_factor?.k === 'int' ? a.upscale_factor.v : undefined;
        const [n, c, h, w] = t.shape;
        if (!r || t.shape.length !== 4 || c! % (r * r) !== 0)
          return this.t(undefined, 'torch', 'PixelShuffle: the upscale factor is not known or does not divide the channels');
        return this.t([n!, c! / (r * r), h! * r, w! * r], 'torch');
      }
      case 'ZeroPad1d':
      case 'ZeroPad2d':
      case 'ZeroPad3d':
      case 'ReflectionPad1d':
      case 'ReflectionPad2d':
      case 'ReflectionPad3d':
      case 'ReplicationPad1d':
      case 'ReplicationPad2d':
      case 'ReplicationPad3d':
      case 'ConstantPad1d':
      case 'ConstantPad2d':
      case 'ConstantPad3d': {
        // (left, right) for the last dimension, then (top, bottom), then (front, back): one number is all of them.
        const dims = Number(short.slice(-2, -1));
        const p = this.ints(a.padding);
        if (!p || (p.length !== 1 && p.length !== 2 * dims)) return this.t(undefined, 'torch', `${short} padding not known`);
        if (t.shape.length < dims + 1) return this.t(undefined, 'torch', `${short} of a ${t.shape.length}-D tensor`);
        const pads = p.length === 1 ? Array<number>(2 * dims).fill(p[0]!) : p;
        const shape = [...t.shape];
        for (let d = 0; d < dims; d++) shape[shape.length - 1 - d]! += pads[2 * d]! + pads[2 * d + 1]!;
        return shape.every((x) => x >= 1) ? this.t(shape, 'torch') : this.t(undefined, 'torch', `${short}: the output would be empty`);
      }
      default:
        return this.t(undefined, 'torch', `${short} is not followed`);
    }
  }

  private readonly costCache = new Map<string, { params: number; macs: number } | undefined>();

  private leafCost(spec: LayerSpec, input: Shape): { params: number; macs: number } | undefined {
    const key = JSON.stringify([spec, input]);
    if (this.costCache.has(key)) return this.costCache.get(key);
    const cost = this.leafCostUncached(spec, input);
    this.costCache.set(key, cost);
    return cost;
  }

  private readonly convCache = new Map<string, ReturnType<typeof estimateConv> | string>();

  /** estimateConv, once per configuration (a network repeats its blocks); a string: why it was rejected. */
  private conv(conv: Parameters<typeof estimateConv>[0], input: Shape): ReturnType<typeof estimateConv> {
    const key = JSON.stringify([conv, input]);
    let found = this.convCache.get(key);
    if (found === undefined) {
      try {
        found = estimateConv(conv, input, this.it.costOptions);
      } catch (error) {
        found = error instanceof SpecError ? error.reason : error instanceof Error ? error.message : String(error);
      }
      this.convCache.set(key, found);
    }
    if (typeof found === 'string') throw new Error(found);
    return found;
  }

  private leafCostUncached(spec: LayerSpec, input: Shape): { params: number; macs: number } | undefined {
    try {
      const flat = input.length === 2;
      const specs: LayerSpec[] = flat ? [{ type: 'Flatten' }, spec] : [spec];
      const cost = costModel(resolveModel({ input_shape: flat ? [input[0]!, input[1]!, 1, 1] : input, layers: specs }), {
        convention: this.it.costOptions.convention,
        dtype: this.it.costOptions.dtype,
      });
      const leaf = cost.leaves[cost.leaves.length - 1]!;
      return { params: leaf.params, macs: leaf.macs };
    } catch {
      return undefined;
    }
  }

  private convArgs(
    layer: Layer,
    inChannels: number | undefined,
  ): {
    conv?: {
      in_channels: number;
      out_channels: number;
      kernel_size: number | [number, number];
      stride: number | [number, number];
      padding: number | [number, number] | 'same' | 'valid';
      dilation: number | [number, number];
      groups: number;
      bias: boolean;
    };
    reason?: string;
  } {
    const a = layer.args;
    const intArg = (name: string): number | undefined => (a[name]?.k === 'int' ? (a[name] as { v: number }).v : undefined);
    const pairArg = (name: string): number | [number, number] | undefined => {
      const v = a[name];
      if (v?.k === 'int') return v.v;
      const p = this.ints(v);
      // F.conv2d expands a one-element stride, padding or dilation (nn.Conv2d(stride=[1]) runs).
      if (p?.length === 1 && name !== 'kernel_size') return p[0]!;
      return p && p.length === 2 ? [p[0]!, p[1]!] : undefined;
    };
    const why = (name: string) => {
      const v = a[name];
      return v?.k === 'unknown' ? `${name} unknown: ${v.reason}` : `${name} = ${v ? repr(v) : '(missing)'} is not known`;
    };
    let cin = intArg('in_channels');
    if (cin === undefined) {
      if (inChannels === undefined) return { reason: why('in_channels') };
      cin = inChannels;
    }
    const cout = intArg('out_channels');
    if (cout === undefined) return { reason: why('out_channels') };
    const k = pairArg('kernel_size');
    if (k === undefined) return { reason: why('kernel_size') };
    const s = pairArg('stride');
    if (s === undefined) return { reason: why('stride') };
    const pv = a.padding;
    const p = pv?.k === 'str' && (pv.v === 'same' || pv.v === 'valid') ? pv.v : pairArg('padding');
    if (p === undefined) return { reason: why('padding') };
    const d = pairArg('dilation');
    if (d === undefined) return { reason: why('dilation') };
    const g = intArg('groups');
    if (g === undefined) return { reason: why('groups') };
    const bias = truthy(a.bias ?? bool(true));
    if (bias === undefined) return { reason: why('bias') };
    return { conv: { in_channels: cin, out_channels: cout, kernel_size: k, stride: s, padding: p, dilation: d, groups: g, bias } };
  }

  /** `moduleInput`: the input recorded for the layer where it is not the conv's own (a subclass that pads first). */
  private applyTorchConv(layer: Layer, t0: TensorInfo, moduleInput?: number[]): Value {
    let t = t0;
    const declared = layer.args.in_channels;
    if (t.pending) {
      if (declared?.k !== 'int') {
        this.record(layer, { ...this.paramsOnly(layer), reason: `input unknown: the model's input size is not given and in_channels is not known` });
        return this.t(undefined, 'torch', "the model's input channels are not known");
      }
      t = { framework: 'torch', shape: [1, declared.v, ...t.pending] };
    }
    if (!t.shape) {
      this.record(layer, { ...this.paramsOnly(layer), reason: `input unknown: ${t.reason ?? 'not known'}` });
      return { k: 'tensor', t: { framework: 'torch', reason: t.reason } };
    }
    if (t.shape.length !== 4) {
      this.record(layer, { ...this.paramsOnly(layer), reason: `input unknown: a ${t.shape.length}-D input (${t.shape.join('×')}) is not followed` });
      return this.t(undefined, 'torch', 'a conv on a tensor that is not 4-D');
    }
    if (declared?.k === 'int' && declared.v !== t.shape[1]) {
      this.record(layer, { ...this.paramsOnly(layer), reason: `input unknown: it would have ${t.shape[1]} channels, but in_channels is ${declared.v}` });
      return this.t(undefined, 'torch', `a conv expecting ${declared.v} channels got ${t.shape[1]}`);
    }
    const { conv, reason } = this.convArgs(layer, t.shape[1]);
    if (!conv) {
      this.record(layer, { ...this.paramsOnly(layer), input: t.shape, reason });
      return this.t(undefined, 'torch', `a conv's arguments are not known (${reason})`);
    }
    try {
      const e = this.conv(conv, t.shape);
      const separable = e.separable ? { params: e.separable.total.params, macs: e.separable.total.macs, saving: e.separable.saving } : undefined;
      this.record(layer, {
        kind: e.kind,
        params: e.cost.params,
        macs: e.cost.macs,
        input: moduleInput ?? t.shape,
        output: e.outShape,
        weight: e.weightShape,
        ...(separable ? { separable } : {}),
      });
      return this.t(e.outShape, 'torch');
    } catch (error) {
      const why = error instanceof SpecError ? error.reason : error instanceof Error ? error.message : String(error);
      this.record(layer, { ...this.paramsOnly(layer), input: t.shape, reason: `PyTorch would reject this conv: ${why}` });
      return this.t(undefined, 'torch', why);
    }
  }

  /**
   * F.conv2d(x, layer.weight, bias, stride, padding, dilation, groups): the layer applied with
   * the call's arguments (a subclass of nn.Conv2d whose forward() pads first, as TensorFlow's
   * "same"), recorded at the layer's site.
   */
  private functionalConv(layer: Layer, t: TensorInfo, args: Args, kwargs: Kwargs): Value {
    const defaults: [number, string, Value][] = [
      [3, 'stride', int(1)],
      [4, 'padding', int(0)],
      [5, 'dilation', int(1)],
      [6, 'groups', int(1)],
    ];
    const view: Record<string, Value> = { ...layer.args };
    for (const [i, name, fallback] of defaults) view[name] = this.arg(args, kwargs, i, name) ?? fallback;
    const bias = this.arg(args, kwargs, 2, 'bias') ?? NONE;
    const biasOf = bias.k === 'tensor' ? this.parameterOf.get(bias.t) : undefined;
    if (bias.k === 'none') view.bias = bool(false);
    else if (biasOf?.layer === layer && biasOf.role === 'bias') view.bias = layer.args.bias ?? bool(true);
    else view.bias = unknown("conv2d() with a bias that is not the layer's");
    layer.applied++;
    return this.applyTorchConv({ ...layer, args: view }, t, this.it.moduleInputs.get(layer.id));
  }

  /**
   * torch.einsum's shape, for equations of letters (no '...'): each letter's size from the
   * operands (a size of 1 broadcasts), the output's letters those after '->', else the letters
   * that appear once, in alphabetical order (as torch and numpy take them).
   */
  private einsum(args: Args, kwargs: Kwargs): Value {
    const equation = args[0] ?? kwargs.get('equation');
    if (equation?.k !== 'str') return this.t(undefined, 'torch', 'einsum() with an equation not known');
    let operands = args.slice(1);
    if (operands.length === 1 && (operands[0]!.k === 'list' || operands[0]!.k === 'tuple')) operands = (operands[0] as { items: Value[] }).items;
    const text = equation.v.replace(/\s+/g, '');
    if (!/^[a-zA-Z,]+(->[a-zA-Z]*)?$/.test(text)) return this.t(undefined, 'torch', `einsum("${equation.v}") is not followed`);
    const [lhs, rhs] = text.split('->') as [string, string | undefined];
    const inputs = lhs.split(',');
    if (inputs.length !== operands.length) return this.t(undefined, 'torch', `einsum("${equation.v}") of ${operands.length} operands (the code would raise)`);
    const sizes = new Map<string, number>();
    for (let i = 0; i < inputs.length; i++) {
      const t = this.tensor(operands[i], 'torch');
      if (!t.shape) return this.unknownT(t, 'einsum()');
      const letters = inputs[i]!;
      if (t.shape.length !== letters.length)
        return this.t(undefined, 'torch', `einsum("${equation.v}") of a ${t.shape.length}-D operand (the code would raise)`);
      for (let d = 0; d < letters.length; d++) {
        const was = sizes.get(letters[d]!);
        const size = t.shape[d]!;
        if (was === undefined || was === 1) sizes.set(letters[d]!, size);
        else if (size !== 1 && size !== was)
          return this.t(undefined, 'torch', `einsum("${equation.v}"): ${letters[d]} is ${was} and ${size} (the code would raise)`);
      }
    }
    const counts = new Map<string, number>();
    for (const ch of inputs.join('')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const output =
      rhs ??
      [...counts]
        .filter(([, n]) => n === 1)
        .map(([ch]) => ch)
        .sort()
        .join('');
    if (new Set(output).size !== output.length || [...output].some((ch) => !sizes.has(ch)))
      return this.t(undefined, 'torch', `einsum("${equation.v}"): an output letter that no operand has or that repeats (the code would raise)`);
    return this.t(
      [...output].map((ch) => sizes.get(ch)!),
      'torch',
    );
  }

  /**
   * F.conv2d with a weight of its own (an nn.Parameter, a dynamic conv's mixed kernels): the output
   * shape. Like the measurement, which counts layers, the model's totals leave such a call out.
   */
  private weightConv(t: TensorInfo, weight: number[], args: Args, kwargs: Kwargs): Value {
    const need = (v: Value | undefined, fallback: number) => (v === undefined || v.k === 'none' ? [fallback] : this.ints(v));
    const stride = need(this.arg(args, kwargs, 3, 'stride'), 1);
    const paddingArg = this.arg(args, kwargs, 4, 'padding');
    const dilation = need(this.arg(args, kwargs, 5, 'dilation'), 1);
    const groups = need(this.arg(args, kwargs, 6, 'groups'), 1)?.[0];
    const same = paddingArg?.k === 'str' && paddingArg.v === 'same';
    const padding = paddingArg?.k === 'str' ? (paddingArg.v === 'valid' ? [0] : same ? [0] : undefined) : need(paddingArg, 0);
    if (!t.shape) return this.unknownT(t, 'conv2d()');
    if (!stride || !padding || !dilation || groups === undefined || groups < 1) return this.t(undefined, 'torch', 'the arguments of conv2d() are not known');
    const [cout, perGroup, kh, kw] = weight as [number, number, number, number];
    if (t.shape.length !== 4 || t.shape[1] !== perGroup * groups || cout % groups)
      return this.t(undefined, 'torch', `conv2d() of a ${t.shape.join('×')} input with a ${weight.join('×')} weight (the code would raise)`);
    const [sh, sw] = pairOf(stride);
    const [ph, pw] = pairOf(padding);
    const [dh, dw] = pairOf(dilation);
    const size = (n: number, k: number, s: number, p: number, d: number) => (same ? n : convOutputSize(n, k, s, d, 2 * p));
    const out = [t.shape[0]!, cout, size(t.shape[2]!, kh, sh, ph, dh), size(t.shape[3]!, kw, sw, pw, dw)];
    return this.t(out.every((x) => x >= 1) ? out : undefined, 'torch', 'conv2d(): the output would be empty');
  }

  /** The model's own input (its channels not said yet) padded by (left, right, top, bottom): still pending, larger. */
  private padPending(t: TensorInfo, [l, r, top, bottom]: number[]): Value {
    const [h, w] = t.pending!;
    const size: [number, number] = [h + top! + bottom!, w + l! + r!];
    if (size[0] < 1 || size[1] < 1) return this.t(undefined, t.framework, 'padding that leaves nothing (the code would raise)');
    const hint = t.hint && t.hint.length === 4 ? [t.hint[0]!, t.hint[1]!, ...size] : undefined;
    return { k: 'tensor', t: { framework: t.framework, pending: size, ...(hint ? { hint } : {}) } };
  }

  /** Tensors made by nn.Parameter(...). */
  readonly parameters = new WeakSet<TensorInfo>();

  /** The layer a weight or bias tensor read from a conv belongs to. */
  private readonly parameterOf = new WeakMap<TensorInfo, { layer: Layer; role: 'weight' | 'bias' }>();

  /**
   * re.split, re.findall and re.sub (a plain replacement) with the patterns that mean the same to
   * JavaScript's RegExp as to Python's re (config strings such as 'r1_k3_s11_e1'); others are not known.
   */
  private regex(fn: string, args: Args, kwargs: Kwargs): Value {
    const pattern = this.arg(args, kwargs, 0, 'pattern');
    const textAt = fn === 'sub' ? 2 : 1;
    const text = this.arg(args, kwargs, textAt, 'string');
    const extra =
      fn === 'sub'
        ? [this.arg(args, kwargs, 3, 'count'), this.arg(args, kwargs, 4, 'flags')]
        : [this.arg(args, kwargs, 2, fn === 'split' ? 'maxsplit' : 'flags'), this.arg(args, kwargs, 3, 'flags')];
    if (pattern?.k !== 'str' || text?.k !== 'str') return unknown(`re.${fn}() of values not known`);
    if (extra.some((v) => v !== undefined && !(v.k === 'int' && v.v === 0))) return unknown(`re.${fn}() with a count or flags is not followed`);
    // Python-only syntax (named groups, \A, \Z, possessive forms) or a pattern JavaScript reads otherwise.
    if (/\(\?P|\(\?#|\\[AZ]|\\[0-9]|\[\^?\]|\{,/.test(pattern.v)) return unknown(`re.${fn}() with the pattern ${JSON.stringify(pattern.v)} is not followed`);
    let re: RegExp;
    try {
      re = new RegExp(pattern.v, 'gu');
    } catch {
      return unknown(`re.${fn}() with the pattern ${JSON.stringify(pattern.v)} is not followed`);
    }
    // An empty match splits and substitutes differently in the two languages.
    if (new RegExp(`^(?:${pattern.v})`, 'u').test('')) return unknown(`re.${fn}() with a pattern that matches the empty string is not followed`);
    if (fn === 'split') return { k: 'list', items: text.v.split(re).map((part) => (part === undefined ? NONE : str(part))) };
    if (fn === 'findall') {
      const groups = new RegExp(`${pattern.v}|`, 'u').exec('')!.length - 1;
      if (groups > 1) return unknown('re.findall() with several groups is not followed');
      return { k: 'list', items: [...text.v.matchAll(re)].map((m) => str(groups === 1 ? (m[1] ?? '') : m[0])) };
    }
    const replacement = this.arg(args, kwargs, 1, 'repl');
    if (replacement?.k !== 'str' || /[\\$]/.test(replacement.v)) return unknown('re.sub() with a replacement that is not plain text is not followed');
    return str(text.v.replace(re, () => replacement.v));
  }

  /** A conv's params from its own arguments (PyTorch convs name their input channels). */
  private paramsOnly(layer: Layer): { params?: number; kind?: string; weight?: number[] } {
    const nd = CONV_ND[layer.cls.split('.').pop()!];
    if (nd) return this.convNdWeights(layer, nd.dims, nd.transposed) ?? {};
    const { conv } = this.convArgs(layer, undefined);
    if (!conv) return {};
    const [kh, kw] = pairOf(conv.kernel_size);
    if (conv.in_channels % conv.groups || conv.out_channels % conv.groups) return {};
    return {
      params: conv.out_channels * (conv.in_channels / conv.groups) * kh * kw + (conv.bias ? conv.out_channels : 0),
      weight: [conv.out_channels, conv.in_channels / conv.groups, kh, kw],
    };
  }

  /**
   * Conv1d, Conv3d and the transposed convs: the output shape, and the layer's params and MACs
   * counted as the measurement counts them (a transposed conv: its parameters x N x output pixels
   * under torchinfo's convention, its weights x N x input pixels under the others; see cost.ts).
   */
  /** The weight's shape of a conv or Linear layer whose arguments are known. */
  private weightShape(layer: Layer): number[] | undefined {
    const short = layer.cls.split('.').pop()!;
    if (short === 'Linear') {
      const [fin, fout] = [layer.args.in_features, layer.args.out_features];
      return fin?.k === 'int' && fout?.k === 'int' ? [fout.v, fin.v] : undefined;
    }
    if (short === 'Conv2d' || CONV_ND[short]) return this.paramsOnly(layer).weight;
    return undefined;
  }

  /** weight_norm(module, name='weight', dim=0) of a conv or Linear whose weight is known: the module, with g's values among its parameters. */
  private weightNormed(args: Args, kwargs: Kwargs): Value | undefined {
    const m = args[0] ?? kwargs.get('module');
    const name = args[1] ?? kwargs.get('name') ?? str('weight');
    const dim = args[2] ?? kwargs.get('dim') ?? int(0);
    if (m?.k !== 'layer' || name.k !== 'str' || name.v !== 'weight' || m.layer.extraParams) return undefined;
    const shape = this.weightShape(m.layer);
    if (!shape) return undefined;
    if (dim.k === 'none') m.layer.extraParams = 1;
    else if (dim.k === 'int' && dim.v >= -shape.length && dim.v < shape.length) m.layer.extraParams = shape.at(dim.v)!;
    else return undefined;
    return m;
  }

  /** The weight shape and params of a Conv1d, Conv3d or transposed conv from its arguments; undefined where they are not known. */
  private convNdWeights(layer: Layer, dims: number, transposed: boolean): { weight: number[]; params: number } | undefined {
    const a = layer.args;
    const int = (v: Value | undefined) => (v?.k === 'int' ? v.v : undefined);
    const [cin, cout, groups] = [int(a.in_channels), int(a.out_channels), int(a.groups)];
    const bias = a.bias ? truthy(a.bias) : true;
    const xs = this.ints(a.kernel_size);
    const k = xs && (xs.length === 1 ? Array<number>(dims).fill(xs[0]!) : xs.length === dims ? xs : undefined);
    if (cin === undefined || cout === undefined || groups === undefined || groups <= 0 || bias === undefined || !k) return undefined;
    if (cin % groups || cout % groups) return undefined;
    const weight = transposed ? [cin, cout / groups, ...k] : [cout, cin / groups, ...k];
    return { weight, params: weight.reduce((x, y) => x * y, 1) + (bias ? cout : 0) };
  }

  private applyConvNd(layer: Layer, t0: TensorInfo, dims: number, transposed: boolean, outputSize?: Value): Value {
    const name = layer.cls.split('.').pop()!;
    const a = layer.args;
    const int = (v: Value | undefined) => (v?.k === 'int' ? v.v : undefined);
    const cin = int(a.in_channels);
    const cout = int(a.out_channels);
    const groups = int(a.groups);
    const bias = a.bias ? truthy(a.bias) : true;
    const each = (v: Value | undefined) => {
      const xs = this.ints(v);
      return xs && (xs.length === 1 ? Array<number>(dims).fill(xs[0]!) : xs.length === dims ? xs : undefined);
    };
    const k = each(a.kernel_size);
    const stride = each(a.stride);
    const dilation = each(a.dilation);
    const outputPadding = transposed ? each(a.output_padding) : Array<number>(dims).fill(0);
    const paddingText = a.padding?.k === 'str' ? a.padding.v : undefined;
    const padding = paddingText === 'valid' ? Array<number>(dims).fill(0) : paddingText === 'same' ? undefined : each(a.padding);
    let t = t0;
    if (t.pending && cin !== undefined) t = { framework: 'torch', shape: [1, cin, ...Array<number>(dims).fill(t.pending[0])] };
    const known =
      cin !== undefined && cout !== undefined && groups !== undefined && groups > 0 && bias !== undefined && k && stride && dilation && outputPadding;
    const weight = known ? (transposed ? [cin, cout / groups, ...k] : [cout, cin / groups, ...k]) : undefined;
    const weights = weight ? weight.reduce((x, y) => x * y, 1) : undefined;
    const params = weights !== undefined && known ? weights + (bias ? cout : 0) : undefined;
    const fail = (reason: string): Value => {
      // An input the conv cannot take (rank, channels) is no input of it to show, as for Conv2d.
      const input = t.shape && !reason.startsWith('input unknown') ? { input: t.shape } : {};
      this.record(layer, { ...(params !== undefined && Number.isInteger(params) ? { params, weight } : {}), ...input, reason });
      return this.t(undefined, 'torch', `${name}: ${reason}`);
    };
    if (!t.shape) return fail(`input unknown: ${t.reason ?? 'not known'}`);
    if (!known) return fail(`the arguments of ${name} are not known`);
    if (t.shape.length !== dims + 2) return fail(`input unknown: a ${t.shape.length}-D input (${t.shape.join('×')}) is not followed`);
    if (t.shape[1] !== cin) return fail(`input unknown: it would have ${t.shape[1]} channels, but in_channels is ${cin}`);
    if (cin % groups || cout % groups) return fail(`PyTorch would reject this conv: ${groups} groups do not divide ${cin} -> ${cout} channels`);
    const inSpatial = t.shape.slice(2);
    let outSpatial: number[];
    if (paddingText === 'same') {
      if (transposed || stride.some((x) => x !== 1)) return fail("PyTorch would reject this conv: padding='same' needs stride 1");
      outSpatial = inSpatial;
    } else if (!padding) return fail(`the arguments of ${name} are not known`);
    else
      outSpatial = inSpatial.map((size, i) =>
        transposed
          ? (size - 1) * stride[i]! - 2 * padding[i]! + dilation[i]! * (k[i]! - 1) + outputPadding[i]! + 1
          : Math.floor((size + 2 * padding[i]! - dilation[i]! * (k[i]! - 1) - 1) / stride[i]!) + 1,
      );
    if (transposed && padding && outputSize && outputSize.k !== 'none') {
      // forward(x, output_size=...): the size asked for, which PyTorch accepts from the smallest
      // output to stride - 1 more (it picks the output padding).
      const asked = this.ints(outputSize);
      if (!asked || asked.length < dims) return fail(`the output_size given to ${name} is not known`);
      const want = asked.slice(-dims);
      for (let i = 0; i < dims; i++) {
        const least = outSpatial[i]! - outputPadding[i]!;
        if (want[i]! < least || want[i]! > least + stride[i]! - 1)
          return fail(`PyTorch would reject this conv: output_size ${want.join('×')} is not between ${least} and ${least + stride[i]! - 1}`);
      }
      outSpatial = want;
    }
    if (outSpatial.some((x) => x <= 0)) return fail(`PyTorch would reject this conv: the output would be empty (${outSpatial.join('×')})`);
    const batch = t.shape[0]!;
    const out = [batch, cout, ...outSpatial];
    const outputs = out.reduce((x, y) => x * y, 1);
    const torchinfo = this.it.costOptions.convention === 'torchinfo';
    const macs = transposed
      ? torchinfo
        ? params! * batch * outSpatial.reduce((x, y) => x * y, 1)
        : batch * weights! * inSpatial.reduce((x, y) => x * y, 1)
      : outputs * (cin / groups) * k.reduce((x, y) => x * y, 1) + (torchinfo && bias ? outputs : 0);
    const kind = transposed
      ? 'transposed'
      : groups === 1
        ? k.every((x) => x === 1)
          ? 'pointwise'
          : 'standard'
        : groups === cin && cout % cin === 0
          ? 'depthwise'
          : 'grouped';
    this.record(layer, { kind, params, macs, input: t.shape, output: out, weight });
    return this.t(out, 'torch');
  }

  /**
   * A PyTorch layer with parameters that the model holds and never applies: its parameters from
   * its arguments, no MACs. False where they are not known from the arguments.
   */
  recordNeverApplied(layer: Layer): boolean {
    const short = layer.cls.split('.').pop()!;
    const a = layer.args;
    const int = (v: Value | undefined) => (v?.k === 'int' ? v.v : undefined);
    let params: number | undefined;
    if (short === 'Linear') {
      const [fin, fout, bias] = [int(a.in_features), int(a.out_features), truthy(a.bias ?? bool(true))];
      if (fin !== undefined && fout !== undefined && bias !== undefined) params = fin * fout + (bias ? fout : 0);
    } else if (TORCH_NORMS.has(short) || short === 'BatchNorm2d') params = this.normParams(layer, short);
    if (params === undefined || !layer.site) return false;
    this.record(layer, { params, macs: 0, input: [], output: [] });
    return true;
  }

  /**
   * A library layer subclassed with a forward() of its own that did not apply the layer (nor
   * F.conv2d with its weight): a norm's parameters as usual (`input`: the module's input), any
   * other layer with parameters as not known, so that the model's totals say so.
   */
  recordOwnForward(layer: Layer, input: number[] | undefined): void {
    if (layer.framework !== 'torch') return;
    const short = layer.cls.split('.').pop()!;
    if (TORCH_NORMS.has(short) || short === 'BatchNorm2d') {
      this.recordNorm(layer, short, input ? { framework: 'torch', shape: input } : { framework: 'torch', reason: "the module's input is not known" });
      return;
    }
    if (short === 'Linear' || short === 'Conv2d' || short in CONV_ND)
      this.record(layer, { ...(short === 'Conv2d' ? this.paramsOnly(layer) : {}), reason: `not known: ${short} applied by a forward() of its own` });
  }

  /** A normalisation's or PReLU's parameters (and a batch norm's MACs, as the measurement counts them), recorded; the shape goes on unchanged. */
  private recordNorm(layer: Layer, short: string, t: TensorInfo): void {
    const params = this.normParams(layer, short);
    if (params === undefined) return this.record(layer, { reason: `the arguments of ${short} are not known` });
    const shape = t.shape;
    if (!shape) return this.record(layer, { params, reason: `input unknown: ${t.reason ?? 'not known'}` });
    // Batch norms: N x params MACs under torchinfo's convention (the BatchNorm2d rule, on the input seen as N x C x rest x 1).
    const batchNorm = /BatchNorm/.test(short);
    const c = shape[1] ?? 1;
    const rest = shape.slice(2).reduce((x, y) => x * y, 1);
    const macs = batchNorm ? (this.leafCost({ type: 'BatchNorm2d', num_features: c, affine: params > 0 }, [shape[0]!, c, rest, 1])?.macs ?? undefined) : 0;
    this.record(layer, { params, macs, input: shape, output: shape });
  }

  /** A normalisation's (or PReLU's) parameters from its arguments; undefined where they are not known. */
  private normParams(layer: Layer, short: string): number | undefined {
    const a = layer.args;
    const int = (v: Value | undefined) => (v?.k === 'int' ? v.v : undefined);
    let params: number | undefined;
    if (short === 'LayerNorm') {
      const shape = this.ints(a.normalized_shape);
      const affine = truthy(a.elementwise_affine ?? bool(true));
      const bias = truthy(a.bias ?? bool(true));
      const n = shape?.reduce((x, y) => x * y, 1);
      if (n !== undefined && affine !== undefined && bias !== undefined) params = affine ? n * (bias ? 2 : 1) : 0;
    } else if (short === 'GroupNorm') {
      const c = int(a.num_channels);
      const affine = truthy(a.affine ?? bool(true));
      if (c !== undefined && affine !== undefined) params = affine ? 2 * c : 0;
    } else if (short === 'PReLU') params = int(a.num_parameters);
    else {
      const c = int(a.num_features);
      const affine = truthy(a.affine ?? bool(!short.startsWith('Instance')));
      if (c !== undefined && affine !== undefined) params = affine ? 2 * c : 0;
    }
    return params;
  }

  private applyLinear(layer: Layer, t0: TensorInfo): Value {
    let t = t0;
    const a = layer.args;
    const fin = a.in_features?.k === 'int' ? a.in_features.v : undefined;
    const fout = a.out_features?.k === 'int' ? a.out_features.v : undefined;
    if (t.pending) t = fin !== undefined ? { framework: 'torch', shape: [1, fin] } : t;
    if (!t.shape) return t.pending ? this.unknownT(t, 'Linear') : { k: 'tensor', t };
    const last = t.shape[t.shape.length - 1]!;
    if (fin !== undefined && fin !== last) return this.t(undefined, 'torch', `Linear(${fin}, ...) on ${last} features (the code would raise)`);
    if (fout === undefined) return this.t(undefined, 'torch', 'Linear out_features not known');
    const bias = truthy(a.bias ?? bool(true)) !== false;
    const out = [...t.shape.slice(0, -1), fout];
    // Any rank: the rows before the last dimension are N samples (a channels-last pointwise layer, say).
    const rows = t.shape.slice(0, -1).reduce((x, y) => x * y, 1);
    const cost = this.leafCost({ type: 'Linear', in_features: last, out_features: fout, bias }, [rows, last]);
    this.record(layer, { params: cost?.params, macs: cost?.macs, input: t.shape, output: out });
    return this.t(out, 'torch');
  }

  // -------------------------------------------------------------------------------------------
  // Keras

  private kerasCall(c: string, args: Args, kwargs: Kwargs, node: Node | undefined): Value | undefined {
    const parts = c.split('.');
    const last = parts[parts.length - 1]!;
    if (c === 'keras.layers.Input') {
      const shape = args[0] ?? kwargs.get('shape') ?? kwargs.get('batch_shape');
      const batch = kwargs.get('batch_size');
      const dims = shape && (shape.k === 'tuple' || shape.k === 'list') ? shape.items : undefined;
      if (!dims)
        return {
          k: 'tensor',
          t: { framework: 'keras', reason: `Input(shape=${shape ? repr(shape) : '?'}) is not known${shape?.k === 'unknown' ? ` (${shape.reason})` : ''}` },
        };
      const full = kwargs.has('batch_shape') ? dims : [batch ?? NONE, ...dims];
      // Free image sizes (None, None, 3) take the default size, as Keras applications and the
      // measuring script do; any other size that is not an integer is not known.
      const [h, w] = this.it.options.defaultInputSize;
      const free = (d: Value, i: number) => d.k === 'none' && full.length === 4 && (i === 1 || i === 2);
      if (full.some((d, i) => i > 0 && d.k !== 'int' && !free(d, i)))
        return { k: 'tensor', t: { framework: 'keras', reason: `Input shape ${repr(shape!)} has sizes that are not known` } };
      return {
        k: 'tensor',
        t: { framework: 'keras', shape: full.map((d, i) => (d.k === 'int' ? d.v : i === 1 && free(d, i) ? h : i === 2 && free(d, i) ? w : 1)) },
      };
    }
    if (c === 'keras.Model') {
      const layer = this.makeLayer('keras.Model', 'keras', [args[0] ?? kwargs.get('inputs') ?? NONE, args[1] ?? kwargs.get('outputs') ?? NONE], new Map());
      this.kerasModelInit(layer);
      return { k: 'layer', layer };
    }
    if (c === 'keras.Sequential') return { k: 'layer', layer: this.makeLayer('keras.Sequential', 'keras', args, kwargs) };
    if (parts[1] === 'layers' && parts.length === 3) {
      if (/^[a-z]/.test(last)) {
        // keras.layers.add([...]), concatenate([...], axis=-1)
        const cls = {
          add: 'Add',
          multiply: 'Multiply',
          subtract: 'Subtract',
          average: 'Average',
          maximum: 'Maximum',
          minimum: 'Minimum',
          concatenate: 'Concatenate',
        }[last];
        if (!cls) return undefined;
        const rest = new Map(kwargs);
        const inputs = args[0] ?? kwargs.get('inputs') ?? NONE;
        rest.delete('inputs');
        if (args[1] && cls === 'Concatenate') rest.set('axis', args[1]);
        const layer = this.makeLayer(`keras.layers.${cls}`, 'keras', [], rest);
        return this.applyKeras(layer, [inputs], new Map(), node);
      }
      if (last in KERAS_LAYERS || KERAS_SAME.has(last)) return { k: 'layer', layer: this.makeLayer(c, 'keras', args, kwargs) };
      if (last === 'Lambda') return { k: 'layer', layer: this.makeLayer(c, 'keras', args, kwargs) };
      return undefined;
    }
    if (c === 'keras.backend.image_data_format') return str('channels_last');
    if (c === 'keras.applications.imagenet_utils.obtain_input_shape') return this.obtainInputShape(args, kwargs);
    if (c === 'keras.applications.imagenet_utils.correct_pad') {
      // The padding that makes a strided 'valid' conv match TensorFlow's 'same' (channels last).
      const t = this.tensor(this.arg(args, kwargs, 0, 'inputs'), 'keras');
      const k = this.ints(this.arg(args, kwargs, 1, 'kernel_size'));
      if (!t.shape || t.shape.length !== 4 || !k)
        return unknown(`correct_pad() of ${t.shape ? 'a kernel size not known' : (t.reason ?? 'an input not known')}`);
      const [kh, kw] = pairOf(k);
      const adjust = [1 - (t.shape[1]! % 2), 1 - (t.shape[2]! % 2)];
      const correct = [Math.floor(kh / 2), Math.floor(kw / 2)];
      return tuple([tuple([int(correct[0]! - adjust[0]!), int(correct[0]!)]), tuple([int(correct[1]! - adjust[1]!), int(correct[1]!)])]);
    }
    if (c === 'keras.backend.int_shape') {
      const t = this.tensor(args[0], 'keras');
      return t.shape ? tuple(t.shape.map((d, i) => (i === 0 ? NONE : int(d)))) : unknown(t.reason ?? 'shape not known');
    }
    if (c === 'keras.activations.relu' || c === 'keras.activations.swish' || c === 'keras.activations.sigmoid' || c === 'keras.activations.hard_sigmoid')
      return args[0]?.k === 'tensor' ? args[0] : undefined;
    return undefined;
  }

  /** keras.applications.imagenet_utils.obtain_input_shape, channels last: the given shape, else the default size with 3 channels. */
  private obtainInputShape(args: Args, kwargs: Kwargs): Value {
    const given = this.arg(args, kwargs, 0, 'input_shape') ?? NONE;
    const size = num(this.arg(args, kwargs, 1, 'default_size') ?? NONE);
    const flatten = truthy(this.arg(args, kwargs, 4, 'require_flatten') ?? NONE);
    const dataFormat = this.arg(args, kwargs, 3, 'data_format') ?? NONE;
    if (dataFormat.k !== 'str' || dataFormat.v !== 'channels_last' || size === undefined || flatten === undefined)
      return unknown('obtain_input_shape() with arguments not known');
    if (given.k === 'tuple' || given.k === 'list') return tuple(given.items);
    if (given.k !== 'none') return unknown('obtain_input_shape() of an input shape not known');
    return flatten ? tuple([int(size), int(size), int(3)]) : tuple([NONE, NONE, int(3)]);
  }

  private kerasSequentialInit(layer: Layer, args: Args, kwargs: Kwargs): void {
    const list = args[0] ?? kwargs.get('layers');
    layer.children = [];
    if (list && list.k !== 'none') {
      const items = this.it.iterate(list, undefined);
      if (isUnknown(items)) layer.args.__tainted__ = items;
      else for (const item of items) this.kerasSequentialAdd(layer, item);
    }
  }

  private kerasSequentialAdd(layer: Layer, item: Value): void {
    if (item.k === 'tensor' && layer.children!.length === 0) {
      layer.kerasInput = item.t;
      layer.kerasOutput = item.t;
      return;
    }
    layer.children!.push(item);
    this.it.adopt({ k: 'layer', layer }, item);
    if (item.k === 'layer') this.it.childIds.add(item.layer.id);
    if (layer.children!.length === 1 && !layer.kerasInput && item.k === 'layer') {
      const shape = item.layer.args.input_shape;
      const dims =
        shape && (shape.k === 'tuple' || shape.k === 'list') && shape.items.every((d) => d.k === 'int')
          ? shape.items.map((d) => (d as { v: number }).v)
          : undefined;
      if (dims) layer.kerasInput = layer.kerasOutput = { framework: 'keras', shape: [1, ...dims] };
      else if (shape) layer.kerasInput = layer.kerasOutput = { framework: 'keras', reason: `input_shape=${repr(shape)} is not known` };
    }
    if (layer.kerasOutput && !layer.args.__tainted__) {
      const out = this.it.callValue(item, [{ k: 'tensor', t: layer.kerasOutput }], new Map(), undefined);
      layer.kerasOutput = this.tensor(out, 'keras');
      layer.applied = 1;
    }
  }

  private kerasSequentialRun(layer: Layer): void {
    let t = layer.kerasInput!;
    for (const child of layer.children ?? []) t = this.tensor(this.it.callValue(child, [{ k: 'tensor', t }], new Map(), undefined), 'keras');
    layer.kerasOutput = t;
    layer.applied = 1;
  }

  private kerasModelInit(layer: Layer): void {
    const outputs = layer.args['#1'] ?? NONE;
    const inputs = layer.args['#0'] ?? NONE;
    const first = inputs.k === 'tensor' ? inputs : inputs.k === 'list' || inputs.k === 'tuple' ? inputs.items[0] : undefined;
    if (first?.k === 'tensor') layer.kerasInput = first.t;
    const out = outputs.k === 'tensor' ? outputs : outputs.k === 'list' || outputs.k === 'tuple' ? outputs.items[0] : undefined;
    if (out?.k === 'tensor') layer.kerasOutput = out.t;
    layer.applied = 1;
    layer.children = [];
  }

  private applyKeras(layer: Layer, args: Args, _kwargs: Kwargs, node: Node | undefined): Value {
    const short = layer.cls.split('.').pop()!;
    const x = args[0] ?? NONE;
    if (short === 'Sequential') {
      if (layer.args.__tainted__) return this.t(undefined, 'keras', (layer.args.__tainted__ as { reason: string }).reason);
      let v = x;
      for (const child of layer.children ?? []) v = this.it.callValue(child, [v], new Map(), node);
      return v;
    }
    if (short === 'Model') return this.t(undefined, 'keras', 'calling a functional Model on a new input is not followed');
    if (MERGE.has(short) || short === 'Concatenate') {
      const items = this.it.iterate(x, undefined);
      if (isUnknown(items)) return this.t(undefined, 'keras', items.reason);
      const ts = items.map((v) => this.tensor(v, 'keras'));
      const bad = ts.find((q) => !q.shape);
      if (bad) return this.unknownT(bad, short);
      if (short === 'Concatenate') {
        const axis = num(layer.args.axis ?? int(-1));
        if (axis === undefined) return this.t(undefined, 'keras', 'Concatenate axis not known');
        const rank = ts[0]!.shape!.length;
        const at = axis < 0 ? rank + axis : axis;
        if (!ts.every((q) => q.shape!.length === rank && q.shape!.every((d, i) => i === at || d === ts[0]!.shape![i])))
          return this.t(undefined, 'keras', 'Concatenate of shapes that do not match');
        const out = [...ts[0]!.shape!];
        out[at] = ts.reduce((acc, q) => acc + q.shape![at]!, 0);
        return this.t(out, 'keras');
      }
      let shape: number[] | undefined = ts[0]!.shape;
      for (const q of ts.slice(1)) shape = shape && broadcastShapes(shape, q.shape!);
      return this.t(shape, 'keras', `${short} of shapes that do not broadcast`);
    }
    const t = this.tensor(x, 'keras');
    const a = layer.args;
    if (short === 'Conv2D' || short === 'DepthwiseConv2D' || short === 'SeparableConv2D') return this.applyKerasConv(layer, short, t);
    if (short === 'Conv2DTranspose') return this.applyKerasTransposed(layer, t);
    if (short === 'Conv1D' || short === 'DepthwiseConv1D' || short === 'SeparableConv1D') return this.applyKerasConv1D(layer, short, t);
    if (short === 'MaxPooling1D' || short === 'AveragePooling1D' || short === 'GlobalAveragePooling1D' || short === 'GlobalMaxPooling1D')
      return this.applyKerasPool1D(layer, short, t);
    if (!t.shape) {
      // A layer with weights on an input not known: the model's totals say it is not counted.
      if (KERAS_WEIGHTED.has(short)) this.record(layer, { reason: `input unknown: ${t.reason ?? 'not known'}` });
      return { k: 'tensor', t };
    }
    const shape = t.shape;
    const rank = shape.length;
    switch (short) {
      case 'Dense': {
        const units = a.units?.k === 'int' ? a.units.v : undefined;
        if (units === undefined) return this.t(undefined, 'keras', 'Dense units not known');
        const out = [...shape.slice(0, -1), units];
        if (rank === 2) {
          const bias = truthy(a.use_bias ?? bool(true)) !== false;
          const cost = this.leafCost({ type: 'Linear', in_features: shape[1]!, out_features: units, bias }, shape);
          this.record(layer, { params: cost?.params, macs: cost?.macs, input: shape, output: out });
        } else if (rank > 2) {
          // On the last axis of every position (a sequence's steps, a map's pixels), as the measurement counts it.
          const bias = truthy(a.use_bias ?? bool(true));
          if (bias === undefined) this.record(layer, { reason: 'whether Dense has a bias is not known' });
          else {
            const rows = shape.slice(0, -1).reduce((x, y) => x * y, 1);
            const inFeatures = shape[rank - 1]!;
            this.record(layer, {
              params: inFeatures * units + (bias ? units : 0),
              macs: rows * inFeatures * units + (bias ? rows * units : 0),
              input: shape,
              output: out,
            });
          }
        }
        return this.t(out, 'keras');
      }
      case 'BatchNormalization': {
        if (rank === 4) {
          const c = shape[3]!;
          const cost = this.leafCost({ type: 'BatchNorm2d', num_features: c }, [shape[0]!, c, shape[1]!, shape[2]!]);
          // gamma and beta where they are made (scale, center); the moving mean and variance are
          // statistics, not parameters (as PyTorch's running ones, and as the measurement counts).
          const scale = truthy(a.scale ?? bool(true));
          const center = truthy(a.center ?? bool(true));
          if (scale === undefined || center === undefined) this.record(layer, { reason: 'whether BatchNormalization has gamma and beta is not known' });
          else this.record(layer, { params: (scale ? c : 0) + (center ? c : 0), macs: cost?.macs, input: shape, output: shape });
        }
        return x;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        if (rank !== 4) return this.t(undefined, 'keras', `${short} on a ${rank}-D tensor`);
        const size = this.ints(a.pool_size);
        const sv = a.strides!;
        const strides = sv.k === 'none' ? size : this.ints(sv);
        const pad = a.padding?.k === 'str' ? a.padding.v : undefined;
        if (!size || !strides || !pad) return this.t(undefined, 'keras', `${short} arguments not known`);
        const [kh, kw] = pairOf(size);
        const [sh, sw] = pairOf(strides);
        const out =
          pad === 'same'
            ? [Math.ceil(shape[1]! / sh), Math.ceil(shape[2]! / sw)]
            : [Math.floor((shape[1]! - kh) / sh) + 1, Math.floor((shape[2]! - kw) / sw) + 1];
        return this.t([shape[0]!, out[0]!, out[1]!, shape[3]!], 'keras');
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        if (rank !== 4) return this.t(undefined, 'keras', `${short} on a ${rank}-D tensor`);
        const keep = truthy(a.keepdims ?? bool(false));
        return this.t(keep ? [shape[0]!, 1, 1, shape[3]!] : [shape[0]!, shape[3]!], 'keras');
      }
      case 'Flatten':
        return this.t([shape[0]!, shape.slice(1).reduce((p, q) => p * q, 1)], 'keras');
      case 'Reshape': {
        const target = this.ints(a.target_shape);
        if (!target) return this.t(undefined, 'keras', 'Reshape target not known');
        return this.t(reshape(shape, [shape[0]!, ...target]), 'keras', 'Reshape to a shape that does not fit');
      }
      case 'ZeroPadding2D': {
        const p = a.padding!;
        let pads: number[] | undefined;
        if (p.k === 'int') pads = [p.v, p.v, p.v, p.v];
        else if (p.k === 'tuple' && p.items.length === 2 && p.items.every((i) => i.k === 'int'))
          pads = [num(p.items[0]!)!, num(p.items[0]!)!, num(p.items[1]!)!, num(p.items[1]!)!];
        else if (p.k === 'tuple' && p.items.length === 2) {
          const r0 = this.ints(p.items[0]);
          const r1 = this.ints(p.items[1]);
          if (r0?.length === 2 && r1?.length === 2) pads = [r0[0]!, r0[1]!, r1[0]!, r1[1]!];
        }
        if (!pads || rank !== 4) return this.t(undefined, 'keras', 'ZeroPadding2D padding not known');
        return this.t([shape[0]!, shape[1]! + pads[0]! + pads[1]!, shape[2]! + pads[2]! + pads[3]!, shape[3]!], 'keras');
      }
      case 'UpSampling2D': {
        const size = this.ints(a.size);
        if (!size || rank !== 4) return this.t(undefined, 'keras', 'UpSampling2D size not known');
        const [fh, fw] = pairOf(size);
        return this.t([shape[0]!, shape[1]! * fh, shape[2]! * fw, shape[3]!], 'keras');
      }
      default:
        if (KERAS_SAME.has(short)) {
          this.recordKerasWeights(layer, short, shape);
          return x;
        }
        return this.t(undefined, 'keras', `${short} is not followed`);
    }
  }

  /**
   * The weights of the Keras layers that keep their input's shape and have some (Normalization's
   * mean, variance and count, LayerNormalization's gamma and beta, PReLU's alpha), as the
   * measurement counts them; no MACs.
   */
  private recordKerasWeights(layer: Layer, short: string, shape: number[]): void {
    if (short !== 'Normalization' && short !== 'LayerNormalization' && short !== 'PReLU') return;
    const a = layer.args;
    const lastAxis = (v: Value | undefined) => v === undefined || (v.k === 'int' && (v.v === -1 || v.v === shape.length - 1));
    const channels = shape[shape.length - 1]!;
    let params: number | undefined;
    if (short === 'Normalization') {
      // Weights kept per index of `axis` (the last by default): mean and variance, and one count.
      if (lastAxis(a.axis ?? a['#0']) && a.mean === undefined && a.variance === undefined) params = 2 * channels + 1;
    } else if (short === 'LayerNormalization') {
      const center = truthy(a.center ?? bool(true));
      const scale = truthy(a.scale ?? bool(true));
      if (lastAxis(a.axis ?? a['#0']) && center !== undefined && scale !== undefined) params = ((center ? 1 : 0) + (scale ? 1 : 0)) * channels;
    } else {
      // alpha has the shape of the input without its batch, 1 along the shared axes.
      const shared = a.shared_axes === undefined || a.shared_axes.k === 'none' ? [] : this.ints(a.shared_axes);
      if (shared) params = shape.slice(1).reduce((n, d, i) => n * (shared.includes(i + 1) ? 1 : d), 1);
    }
    if (params === undefined) this.record(layer, { reason: `the weights of ${short} with these arguments are not counted` });
    else this.record(layer, { params, macs: 0, input: shape, output: shape });
  }

  /**
   * Keras' Conv2DTranspose on an [N, H, W, C] input: each side as Keras computes it (without
   * output_padding: H x stride under 'same', H x stride + max(k - stride, 0) under 'valid'; with
   * it: (H - 1) x stride + k - 2 x pad + output_padding), kernel (kh, kw, filters, C), and MACs
   * as torchinfo counts a transposed conv: the kernel's weights x N x output pixels, plus the bias.
   */
  private applyKerasTransposed(layer: Layer, t: TensorInfo): Value {
    const a = layer.args;
    const fail = (reason: string, input?: number[]): Value => {
      this.record(layer, { ...(input ? { input } : {}), reason });
      return this.t(undefined, 'keras', `Conv2DTranspose: ${reason}`);
    };
    if (!t.shape) return fail(`input unknown: ${t.reason ?? 'not known'}`);
    if (t.shape.length !== 4) return fail(`input unknown: a ${t.shape.length}-D input`);
    const df = a.data_format;
    if (df && df.k !== 'none' && !(df.k === 'str' && df.v === 'channels_last')) return fail(`data_format = ${repr(df)} is not read`, t.shape);
    const [n, h, w, cin] = t.shape as [number, number, number, number];
    const k = this.ints(a.kernel_size);
    const s = this.ints(a.strides);
    const d = this.ints(a.dilation_rate);
    const op = a.output_padding?.k === 'none' ? null : this.ints(a.output_padding);
    const pad = a.padding?.k === 'str' ? a.padding.v.toLowerCase() : undefined;
    const bias = truthy(a.use_bias ?? bool(true));
    const filters = a.filters?.k === 'int' ? a.filters.v : undefined;
    if (!k || !s || !d || op === undefined || (pad !== 'same' && pad !== 'valid') || bias === undefined || filters === undefined)
      return fail('the arguments of Conv2DTranspose are not known', t.shape);
    const [kh, kw] = pairOf(k);
    const [sh, sw] = pairOf(s);
    const [dh, dw] = pairOf(d);
    const side = (size: number, kernel: number, stride: number, dilation: number, outputPadding: number | undefined) => {
      const span = kernel + (kernel - 1) * (dilation - 1);
      if (outputPadding === undefined) return pad === 'same' ? size * stride : size * stride + Math.max(span - stride, 0);
      return (size - 1) * stride + span - 2 * (pad === 'same' ? Math.floor(span / 2) : 0) + outputPadding;
    };
    const [oph, opw] = op ? pairOf(op) : [undefined, undefined];
    const out = [n, side(h, kh, sh, dh, oph), side(w, kw, sw, dw, opw), filters];
    if (out[1]! < 1 || out[2]! < 1) return fail('Keras would reject this layer: its output would be empty', t.shape);
    const weights = kh * kw * filters * cin;
    const outputs = out.reduce((x, y) => x * y, 1);
    const macs = weights * n * out[1]! * out[2]! + (bias ? outputs : 0);
    this.record(layer, { kind: 'transposed', params: weights + (bias ? filters : 0), macs, input: t.shape, output: out, weight: [kh, kw, filters, cin] });
    return this.t(out, 'keras');
  }

  /**
   * Keras' Conv1D, DepthwiseConv1D and SeparableConv1D on an [N, L, C] input: the length as Keras
   * gives it ('valid', 'same', and 'causal' for Conv1D), the weights, and the MACs the
   * measurement counts (a depthwise step, then a pointwise one, for the separable conv).
   */
  private applyKerasConv1D(layer: Layer, short: string, t: TensorInfo): Value {
    const a = layer.args;
    const fail = (reason: string, input?: number[]): Value => {
      this.record(layer, { ...(input ? { input } : {}), reason });
      return this.t(undefined, 'keras', `${short}: ${reason}`);
    };
    if (!t.shape) return fail(`input unknown: ${t.reason ?? 'not known'}`);
    if (t.shape.length !== 3) return fail(`input unknown: a ${t.shape.length}-D input`);
    const df = a.data_format;
    if (df && df.k !== 'none' && !(df.k === 'str' && df.v === 'channels_last')) return fail(`data_format = ${repr(df)} is not read`, t.shape);
    const [n, length, cin] = t.shape as [number, number, number];
    const one = (v: Value | undefined) => {
      const xs = this.ints(v);
      return xs && xs.length === 1 ? xs[0] : undefined;
    };
    const [k, s, d] = [one(a.kernel_size), one(a.strides), one(a.dilation_rate)];
    const pad = a.padding?.k === 'str' ? a.padding.v.toLowerCase() : undefined;
    const bias = truthy(a.use_bias ?? bool(true));
    const filters = short === 'DepthwiseConv1D' ? undefined : a.filters?.k === 'int' ? a.filters.v : undefined;
    const mult = short === 'Conv1D' ? 1 : a.depth_multiplier?.k === 'int' ? a.depth_multiplier.v : undefined;
    const groups = short === 'Conv1D' ? (a.groups?.k === 'int' ? a.groups.v : undefined) : 1;
    const padOk = pad === 'valid' || pad === 'same' || (pad === 'causal' && short === 'Conv1D');
    if (k === undefined || s === undefined || d === undefined || !padOk || bias === undefined || mult === undefined || groups === undefined)
      return fail(`the arguments of ${short} are not known`, t.shape);
    if (short !== 'DepthwiseConv1D' && filters === undefined) return fail(`filters of ${short} not known`, t.shape);
    if (cin % groups || (filters !== undefined && filters % groups))
      return fail(`Keras would reject this layer: ${groups} groups do not divide its channels`, t.shape);
    const span = d * (k - 1) + 1;
    const out = pad === 'valid' ? Math.floor((length - span) / s) + 1 : Math.ceil(length / s);
    if (out < 1) return fail('Keras would reject this layer: its output would be empty', t.shape);
    const spatial = n * out;
    let params: number;
    let macs: number;
    let output: number[];
    let kind: string;
    let weight: number[];
    if (short === 'Conv1D') {
      output = [n, out, filters!];
      params = k * (cin / groups) * filters! + (bias ? filters! : 0);
      macs = spatial * filters! * (cin / groups) * k + (bias ? spatial * filters! : 0);
      kind = groups === 1 ? (k === 1 ? 'pointwise' : 'standard') : groups === cin && filters! % cin === 0 ? 'depthwise' : 'grouped';
      weight = [k, cin / groups, filters!];
    } else if (short === 'DepthwiseConv1D') {
      const channels = cin * mult;
      output = [n, out, channels];
      params = k * channels + (bias ? channels : 0);
      macs = spatial * channels * k + (bias ? spatial * channels : 0);
      kind = 'depthwise';
      weight = [k, cin, mult];
    } else {
      const middle = cin * mult;
      output = [n, out, filters!];
      params = k * middle + middle * filters! + (bias ? filters! : 0);
      macs = spatial * middle * k + spatial * middle * filters! + (bias ? spatial * filters! : 0);
      kind = 'depthwise separable';
      weight = [k, cin, mult];
    }
    this.record(layer, { kind, params, macs, input: t.shape, output, weight });
    return this.t(output, 'keras');
  }

  /** Keras' 1-D pools on an [N, L, C] input. */
  private applyKerasPool1D(layer: Layer, short: string, t: TensorInfo): Value {
    const a = layer.args;
    if (!t.shape) return { k: 'tensor', t };
    if (t.shape.length !== 3) return this.t(undefined, 'keras', `${short} on a ${t.shape.length}-D tensor`);
    const df = a.data_format;
    if (df && df.k !== 'none' && !(df.k === 'str' && df.v === 'channels_last'))
      return this.t(undefined, 'keras', `${short}: data_format = ${repr(df)} is not read`);
    const [n, length, c] = t.shape as [number, number, number];
    if (short.startsWith('Global')) {
      const keep = truthy(a.keepdims ?? bool(false));
      if (keep === undefined) return this.t(undefined, 'keras', `${short} keepdims not known`);
      return this.t(keep ? [n, 1, c] : [n, c], 'keras');
    }
    const one = (v: Value | undefined) => {
      const xs = this.ints(v);
      return xs && xs.length === 1 ? xs[0] : undefined;
    };
    const size = one(a.pool_size);
    const stride = a.strides?.k === 'none' ? size : one(a.strides);
    const pad = a.padding?.k === 'str' ? a.padding.v.toLowerCase() : undefined;
    if (size === undefined || stride === undefined || (pad !== 'same' && pad !== 'valid')) return this.t(undefined, 'keras', `${short} arguments not known`);
    const out = pad === 'same' ? Math.ceil(length / stride) : Math.floor((length - size) / stride) + 1;
    return this.t(out >= 1 ? [n, out, c] : undefined, 'keras', `${short}: the output would be empty`);
  }

  private applyKerasConv(layer: Layer, short: string, t: TensorInfo): Value {
    const a = layer.args;
    if (!t.shape) {
      this.record(layer, { reason: `input unknown: ${t.reason ?? 'not known'}` });
      return { k: 'tensor', t: { framework: 'keras', reason: t.reason } };
    }
    if (t.shape.length !== 4) {
      this.record(layer, { reason: `input unknown: a ${t.shape.length}-D input` });
      return this.t(undefined, 'keras', 'a conv on a tensor that is not 4-D');
    }
    const fail = (reason: string): Value => {
      this.record(layer, { input: t.shape, reason });
      return this.t(undefined, 'keras', reason);
    };
    const df = a.data_format;
    if (df && df.k !== 'none' && !(df.k === 'str' && df.v === 'channels_last')) return fail(`data_format = ${repr(df)} is not read`);
    const cin = t.shape[3]!;
    const k = this.ints(a.kernel_size);
    const s = this.ints(a.strides);
    const d = this.ints(a.dilation_rate);
    const pad = a.padding?.k === 'str' ? a.padding.v.toLowerCase() : undefined;
    const bias = truthy(a.use_bias ?? bool(true));
    const filters = short === 'DepthwiseConv2D' ? undefined : a.filters?.k === 'int' ? a.filters.v : undefined;
    const mult = short === 'Conv2D' ? 1 : a.depth_multiplier?.k === 'int' ? a.depth_multiplier.v : undefined;
    const groups = short === 'Conv2D' ? (a.groups?.k === 'int' ? a.groups.v : undefined) : 1;
    const missing = !k
      ? 'kernel_size'
      : !s
        ? 'strides'
        : !d
          ? 'dilation_rate'
          : pad !== 'same' && pad !== 'valid'
            ? 'padding'
            : bias === undefined
              ? 'use_bias'
              : short !== 'DepthwiseConv2D' && filters === undefined
                ? 'filters'
                : mult === undefined
                  ? 'depth_multiplier'
                  : groups === undefined
                    ? 'groups'
                    : undefined;
    if (missing) {
      const v = a[missing];
      return fail(`${missing} unknown${v?.k === 'unknown' ? `: ${v.reason}` : ''}`);
    }
    const nchw = [t.shape[0]!, cin, t.shape[1]!, t.shape[2]!];
    const padding = pad === 'same' ? ('tf_same' as const) : 0;
    try {
      if (short === 'Conv2D') {
        const e = this.conv(
          {
            in_channels: cin,
            out_channels: filters!,
            kernel_size: pairOf(k!),
            stride: pairOf(s!),
            padding,
            dilation: pairOf(d!),
            groups: groups!,
            bias: bias!,
          },
          nchw,
        );
        const out = [e.outShape[0]!, e.outShape[2]!, e.outShape[3]!, e.outShape[1]!];
        const [kh, kw] = pairOf(k!);
        this.record(layer, { kind: e.kind, params: e.cost.params, macs: e.cost.macs, input: t.shape, output: out, weight: [kh, kw, cin / groups!, filters!] });
        return this.t(out, 'keras');
      }
      const dw = this.conv(
        {
          in_channels: cin,
          out_channels: cin * mult!,
          kernel_size: pairOf(k!),
          stride: pairOf(s!),
          padding,
          dilation: pairOf(d!),
          groups: cin,
          bias: short === 'DepthwiseConv2D' ? bias! : false,
        },
        nchw,
      );
      const [kh, kw] = pairOf(k!);
      if (short === 'DepthwiseConv2D') {
        const out = [dw.outShape[0]!, dw.outShape[2]!, dw.outShape[3]!, dw.outShape[1]!];
        this.record(layer, { kind: dw.kind, params: dw.cost.params, macs: dw.cost.macs, input: t.shape, output: out, weight: [kh, kw, cin, mult!] });
        return this.t(out, 'keras');
      }
      const pw = this.conv({ in_channels: cin * mult!, out_channels: filters!, kernel_size: 1, bias: bias! }, dw.outShape);
      const out = [pw.outShape[0]!, pw.outShape[2]!, pw.outShape[3]!, pw.outShape[1]!];
      this.record(layer, {
        kind: 'depthwise separable',
        params: dw.cost.params + pw.cost.params,
        macs: dw.cost.macs + pw.cost.macs,
        input: t.shape,
        output: out,
        weight: [kh, kw, cin, mult!],
      });
      return this.t(out, 'keras');
    } catch (error) {
      return fail(`Keras would reject this conv: ${error instanceof SpecError ? error.reason : error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function reshape(shape: number[], spec: number[]): number[] | undefined {
  const total = shape.reduce((a, b) => a * b, 1);
  const known = spec.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const holes = spec.filter((d) => d === -1).length;
  if (holes > 1 || spec.some((d) => d < -1)) return undefined;
  if (holes === 1) {
    if (known === 0 || total % known) return undefined;
    return spec.map((d) => (d === -1 ? total / known : d));
  }
  return known === total ? spec : undefined;
}

/** PyTorch's pooling output size (floor or ceil mode). */

/**
 * A max or average pool's output over the last `dims` dimensions of `input` ([C, ...] or
 * [N, C, ...]); each of kernel, stride, padding and dilation is one number for every dimension or
 * one per dimension. Undefined when the output would be empty or the input has other dimensions.
 */
function poolShapeNd(input: number[], dims: number, k: number[], s: number[], p: number[], d: number[], ceil: boolean): number[] | undefined {
  if (input.length < dims + 1 || input.length > dims + 2) return undefined;
  const each = (v: number[]) => (v.length === 1 ? Array<number>(dims).fill(v[0]!) : v.length === dims ? v : undefined);
  const [kk, ss, pp, dd] = [each(k), each(s), each(p), each(d)];
  if (!kk || !ss || !pp || !dd) return undefined;
  const r = input.length;
  const out = kk.map((_, i) => {
    const size = input[r - dims + i]!;
    if (!ceil) return convOutputSize(size, kk[i]!, ss[i]!, dd[i]!, 2 * pp[i]!);
    const span = size + 2 * pp[i]! - dd[i]! * (kk[i]! - 1) - 1;
    let o = Math.ceil(span / ss[i]!) + 1;
    if ((o - 1) * ss[i]! >= size + pp[i]!) o--;
    return o;
  });
  return out.every((o) => o >= 1) ? [...input.slice(0, r - dims), ...out] : undefined;
}

/** The shape of tensor data: a numpy array of known values, a number, or nested lists of numbers of equal lengths. */
function dataShape(v: Value): number[] | undefined {
  if (v.k === 'tensor' && v.t.numpy && v.t.shape) return v.t.shape;
  if (v.k === 'int' || v.k === 'float' || v.k === 'bool') return [];
  if (v.k !== 'list' && v.k !== 'tuple') return undefined;
  if (v.k === 'list' && v.taint) return undefined;
  const inner = v.items.map(dataShape);
  if (inner.some((s) => s === undefined)) return undefined;
  const first = inner[0] ?? [];
  if (!inner.every((s) => s!.length === first.length && s!.every((d, i) => d === first[i]))) return undefined;
  return [v.items.length, ...first];
}

/** A max pool's output with return_indices=True: the output and the indices of its maxima, of the same shape (for max_unpool). */
function withIndices(pooled: Value): Value {
  return tuple([pooled, pooled.k === 'tensor' ? { k: 'tensor', t: { ...pooled.t } } : pooled]);
}

/** The text of a value as str() gives it, for the values formatting knows. */
function plainText(v: Value): string | undefined {
  if (v.k === 'str') return v.v;
  if (v.k === 'int' || v.k === 'float' || v.k === 'bool' || v.k === 'none') return repr(v);
  return undefined;
}

/** str.format with `{}`, `{0}` and `{name}` fields (no format specs but `:d`/`:s`); undefined otherwise. */
export function formatString(template: string, args: Value[], kwargs: Map<string, Value>): Value | undefined {
  let next = 0;
  let failed = false;
  const out = template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, field: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const [name, spec] = (field ?? '').split(':');
    if (spec !== undefined && spec !== '' && spec !== 'd' && spec !== 's') {
      failed = true;
      return '';
    }
    const v = name === '' ? args[next++] : /^\d+$/.test(name!) ? args[Number(name)] : kwargs.get(name!);
    const text = v ? plainText(v) : undefined;
    if (text === undefined) failed = true;
    return text ?? '';
  });
  return failed ? undefined : str(out);
}

/** printf-style `'%s_%d' % (a, b)` with %s, %d and %i; undefined otherwise. */
export function percentFormat(template: string, value: Value): Value | undefined {
  const args = value.k === 'tuple' ? value.items : [value];
  let i = 0;
  let failed = false;
  const out = template.replace(/%%|%([sdi])/g, (match, conv: string | undefined) => {
    if (match === '%%') return '%';
    const v = args[i++];
    if (!v) {
      failed = true;
      return '';
    }
    if (conv === 's') {
      const text = plainText(v);
      if (text === undefined) failed = true;
      return text ?? '';
    }
    const n = num(v);
    if (n === undefined) failed = true;
    return String(Math.trunc(n ?? 0));
  });
  return failed || i !== args.length ? undefined : str(out);
}
