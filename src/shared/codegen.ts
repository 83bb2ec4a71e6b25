/**
 * Exports a resolved model as code: PyTorch (a runnable snippet whose `model.state_dict()` has
 * exactly the keys and shapes of {@link parameterShapes}, plus `num_batches_tracked`) and Keras
 * (channels_last, with a comment wherever a layer cannot be mapped exactly).
 *
 * Both are generated from the resolved tree of spec.ts, so the key layout has one source of
 * truth: a node's state_dict key says which module holds it (`3.conv.1.0` is child 0 of child 1
 * of the `conv` attribute of layer 3).
 *
 * This module imports neither `vscode` nor the DOM.
 */
import {
  DEFAULT_NEGATIVE_SLOPE,
  resolvePadding,
  type ResolvedActivation,
  type ResolvedChannelScale,
  type LeafInfo,
  type ResolvedConv2d,
  type ResolvedLeaf,
  type ResolvedModel,
  type ResolvedNode,
} from './spec';

const INDENT = '    ';

/** Python literal of a finite number: JavaScript's shortest round-trip form reads the same in Python. */
function pyNumber(value: number): string {
  return String(value);
}

/** `3` for a square pair, `(3, 5)` otherwise. */
function pyPair([a, b]: readonly [number, number]): string {
  return a === b ? String(a) : `(${a}, ${b})`;
}

function pyString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** One line of a comment, whatever the text holds. */
function comment(text: string): string {
  return `# ${text.replace(/[\r\n]+/g, ' ')}`;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** A bug in this module or in the tree it was handed, not in the user's spec. */
function internal(reason: string): never {
  throw new Error(`code export: ${reason}`);
}

// ---------------------------------------------------------------------------------------------
// PyTorch

const TORCH_HELPERS = {
  Residual: `class Residual(nn.Module):
    """Adds the input to the output of \`body\`: x + body(x)."""

    def __init__(self, *body):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return x + self.body(x)`,
  InvertedResidual: `class InvertedResidual(nn.Module):
    """MobileNetV2's block with torchvision's layout: the layers live in \`conv\`, and the input is
    added to their output when the stride is 1 and the channel count is kept (use_res_connect)."""

    def __init__(self, *layers, use_res_connect):
        super().__init__()
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = use_res_connect

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)`,
  Conv2dTfSame: `class Conv2dTfSame(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding: output size ceil(input / stride), the odd pixel
    after. It pads in forward, from the input's size, so the weights keep nn.Conv2d's keys."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)

    def forward(self, x):
        pads = []
        # F.pad takes the last dimension first: width, then height.
        for size, k, s, d in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.conv2d(F.pad(x, pads, mode=mode), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)`,
} as const;

/** The classes a snippet defines, or imports (SqueezeExcitation, from torchvision). */
type TorchHelper = keyof typeof TORCH_HELPERS | 'SqueezeExcitation';

function torchConv(node: ResolvedConv2d, helpers: Set<TorchHelper>): string {
  const args = [String(node.inChannels), String(node.outChannels), `kernel_size=${pyPair(node.kernel)}`];
  if (node.stride[0] !== 1 || node.stride[1] !== 1) args.push(`stride=${pyPair(node.stride)}`);
  const tfSame = node.padding === 'tf_same';
  if (!tfSame) {
    const p = node.padding;
    if (typeof p === 'string') args.push(`padding=${pyString(p)}`);
    else if (typeof p === 'number' ? p !== 0 : p[0] !== 0 || p[1] !== 0) args.push(`padding=${typeof p === 'number' ? p : pyPair(p)}`);
  }
  if (node.dilation[0] !== 1 || node.dilation[1] !== 1) args.push(`dilation=${pyPair(node.dilation)}`);
  if (node.groups !== 1) args.push(`groups=${node.groups}`);
  if (!node.bias) args.push('bias=False');
  if (node.paddingMode !== 'zeros') args.push(`padding_mode=${pyString(node.paddingMode)}`);
  if (tfSame) {
    helpers.add('Conv2dTfSame');
    return `Conv2dTfSame(${args.join(', ')})`;
  }
  return `nn.Conv2d(${args.join(', ')})`;
}

function torchLeaf(node: ResolvedLeaf, helpers: Set<TorchHelper>): string {
  switch (node.op) {
    case 'conv2d':
      return torchConv(node, helpers);
    case 'batchnorm2d': {
      const args = [String(node.numFeatures)];
      if (node.eps !== 1e-5) args.push(`eps=${pyNumber(node.eps)}`);
      if (node.momentum !== 0.1) args.push(`momentum=${pyNumber(node.momentum)}`);
      if (!node.affine) args.push('affine=False');
      if (!node.trackRunningStats) args.push('track_running_stats=False');
      return `nn.BatchNorm2d(${args.join(', ')})`;
    }
    case 'activation':
      return torchActivation(node);
    case 'dropout':
      return `nn.Dropout(p=${pyNumber(node.p)})`;
    case 'adaptiveavgpool2d':
      return `nn.AdaptiveAvgPool2d(${pyPair(node.outputSize)})`;
    case 'flatten': {
      const args: string[] = [];
      if (node.startDim !== 1 || node.endDim !== -1) args.push(`start_dim=${node.startDim}`, `end_dim=${node.endDim}`);
      return `nn.Flatten(${args.join(', ')})`;
    }
    case 'linear':
      return `nn.Linear(${node.inFeatures}, ${node.outFeatures}${node.bias ? '' : ', bias=False'})`;
    case 'maxpool2d':
    case 'avgpool2d': {
      const args = [`kernel_size=${pyPair(node.kernel)}`];
      if (node.stride[0] !== node.kernel[0] || node.stride[1] !== node.kernel[1]) args.push(`stride=${pyPair(node.stride)}`);
      if (node.padding[0] !== 0 || node.padding[1] !== 0) args.push(`padding=${pyPair(node.padding)}`);
      if (node.op === 'maxpool2d' && (node.dilation[0] !== 1 || node.dilation[1] !== 1)) args.push(`dilation=${pyPair(node.dilation)}`);
      if (node.ceilMode) args.push('ceil_mode=True');
      if (node.op === 'avgpool2d' && !node.countIncludePad) args.push('count_include_pad=False');
      if (node.op === 'avgpool2d' && node.divisorOverride !== undefined) args.push(`divisor_override=${node.divisorOverride}`);
      return `nn.${node.op === 'maxpool2d' ? 'MaxPool2d' : 'AvgPool2d'}(${args.join(', ')})`;
    }
    case 'convtranspose2d': {
      const args = [String(node.inChannels), String(node.outChannels), `kernel_size=${pyPair(node.kernel)}`];
      if (node.stride[0] !== 1 || node.stride[1] !== 1) args.push(`stride=${pyPair(node.stride)}`);
      if (node.padding[0] !== 0 || node.padding[1] !== 0) args.push(`padding=${pyPair(node.padding)}`);
      if (node.outputPadding[0] !== 0 || node.outputPadding[1] !== 0) args.push(`output_padding=${pyPair(node.outputPadding)}`);
      if (node.groups !== 1) args.push(`groups=${node.groups}`);
      if (!node.bias) args.push('bias=False');
      if (node.dilation[0] !== 1 || node.dilation[1] !== 1) args.push(`dilation=${pyPair(node.dilation)}`);
      return `nn.ConvTranspose2d(${args.join(', ')})`;
    }
    case 'upsample': {
      const args = node.size
        ? [`size=${pyPair(node.size)}`]
        : [
            `scale_factor=${node.scaleFactor![0] === node.scaleFactor![1] ? pyNumber(node.scaleFactor![0]) : `(${node.scaleFactor!.map(pyNumber).join(', ')})`}`,
          ];
      args.push(`mode=${pyString(node.mode)}`);
      if (node.mode === 'bilinear') args.push(`align_corners=${node.alignCorners ? 'True' : 'False'}`);
      if (node.scaleFactor && !node.useScaleFactor) args.push('recompute_scale_factor=True');
      return `nn.Upsample(${args.join(', ')})`;
    }
    case 'channelshuffle':
      return `nn.ChannelShuffle(${node.groups})`;
    case 'softmax':
      return `nn.Softmax(dim=${node.dim})`;
    case 'add':
    case 'mul':
    case 'concat':
    case 'split':
      throw new Error(`${node.key}: a graph op (${node.op}) has no nn.Sequential form; export the chain form only`);
  }
}

function torchActivation(node: ResolvedActivation): string {
  if (node.fn === 'GELU' && node.approximate === 'tanh') return "nn.GELU(approximate='tanh')";
  if (node.fn === 'LeakyReLU' && node.negativeSlope !== DEFAULT_NEGATIVE_SLOPE) return `nn.LeakyReLU(negative_slope=${pyNumber(node.negativeSlope)})`;
  return `nn.${node.fn}()`;
}

/** Children of a container, each expected at `${prefix}.${j}`, one per line. */
function torchChildren(children: ResolvedNode[], prefix: string, indent: string, helpers: Set<TorchHelper>, extra: string[] = []): string {
  const lines = children.map((child, j) => `${indent}${torchModule(child, `${prefix}.${j}`, indent, helpers)},`);
  return [...lines, ...extra.map((e) => `${indent}${e},`)].join('\n');
}

/** The Python expression of the module that lives at state_dict prefix `key`. */
function torchModule(node: ResolvedNode, key: string, indent: string, helpers: Set<TorchHelper>): string {
  const inner = indent + INDENT;
  if (node.op === 'residual') {
    if (node.key !== key) internal(`expected a module at ${key}, found ${node.key}`);
    if (node.body.key === `${key}.body`) {
      helpers.add('Residual');
      return `Residual(\n${torchChildren(node.body.children, node.body.key, inner, helpers)}\n${indent})`;
    }
    if (node.body.key === `${key}.conv`) {
      helpers.add('InvertedResidual');
      return `InvertedResidual(\n${torchChildren(node.body.children, node.body.key, inner, helpers, ['use_res_connect=True'])}\n${indent})`;
    }
    return internal(`a residual at ${key} whose body is at ${node.body.key}`);
  }
  if (node.op === 'channelscale') {
    if (node.key !== key) internal(`expected a module at ${key}, found ${node.key}`);
    helpers.add('SqueezeExcitation');
    return torchSqueezeExcitation(node);
  }
  if (node.op === 'sequence') {
    if (node.key === key) return `nn.Sequential(\n${torchChildren(node.children, key, inner, helpers)}\n${indent})`;
    // An InvertedResidual without its skip: the layers still live in its `conv` attribute.
    if (node.key === `${key}.conv`) {
      helpers.add('InvertedResidual');
      return `InvertedResidual(\n${torchChildren(node.children, node.key, inner, helpers, ['use_res_connect=False'])}\n${indent})`;
    }
    return internal(`expected a module at ${key}, found ${node.key}`);
  }
  if (node.key !== key) internal(`expected a module at ${key}, found ${node.key}`);
  return torchLeaf(node, helpers);
}

/** torchvision.ops.SqueezeExcitation with the activation classes of the resolved body. */
function torchSqueezeExcitation(node: ResolvedChannelScale): string {
  const [, fc1, act, , scaleAct] = node.body.children;
  if (fc1?.op !== 'conv2d' || act?.op !== 'activation' || scaleAct?.op !== 'activation') return internal(`${node.key} is not a squeeze-excitation block`);
  return `SqueezeExcitation(${fc1.inChannels}, ${fc1.outChannels}, activation=nn.${act.fn}, scale_activation=nn.${scaleAct.fn})`;
}

/**
 * A runnable PyTorch snippet defining `model = nn.Sequential(...)`: its `state_dict()` keys and
 * shapes are those of {@link parameterShapes} (plus BatchNorm's `num_batches_tracked`), so
 * weights saved from either side load into the other.
 */
export function pytorchCode(model: ResolvedModel): string {
  if (model.form === 'graph') throw new Error('code export takes the chain form (a model with "layers"); this model is a graph');
  const helpers = new Set<TorchHelper>();
  const body = model.layers.map((layer) => {
    const type = layer.spec.type;
    const note = `${INDENT}${comment(`${layer.index}: ${type}, ${shapeText(layer.inShape)} -> ${shapeText(layer.outShape)}`)}`;
    return `${note}\n${INDENT}${torchModule(layer.node, String(layer.index), INDENT, helpers)},`;
  });
  const [n, c, h, w] = model.inputShape;
  const out: string[] = [
    comment(`${model.name}: PyTorch export of a SepConv Lab model spec.`),
    comment(`Input ${shapeText(model.inputShape)} (NCHW) -> output ${shapeText(model.outputShape)}.`),
    '# model.state_dict() uses the same keys as the spec, so weights load either way.',
    'import torch',
    'import torch.nn as nn',
    ...(helpers.has('Conv2dTfSame') ? ['import torch.nn.functional as F'] : []),
    ...(helpers.has('SqueezeExcitation') ? ['from torchvision.ops import SqueezeExcitation'] : []),
    '',
  ];
  for (const name of Object.keys(TORCH_HELPERS) as Array<keyof typeof TORCH_HELPERS>) {
    if (helpers.has(name)) out.push('', TORCH_HELPERS[name], '', '');
  }
  if (![...helpers].some((name) => name in TORCH_HELPERS)) out.push('');
  out.push('model = nn.Sequential(', ...body, ')', '', '');
  out.push(
    'if __name__ == "__main__":',
    `${INDENT}model.eval()`,
    `${INDENT}with torch.no_grad():`,
    `${INDENT}${INDENT}y = model(torch.randn(${n}, ${c}, ${h}, ${w}))`,
    `${INDENT}print(tuple(y.shape))  # ${shapeText(model.outputShape)}`,
    '',
  );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Keras

interface KerasLayer {
  /** The layer's constructor call; undefined when nothing is emitted (a comment says why). */
  code?: string;
  notes: string[];
}

const KERAS_HELPERS = {
  gelu_erf: `def gelu_erf(x):
    """GELU with the exact erf, PyTorch's nn.GELU()."""
    return keras.activations.gelu(x, approximate=False)`,
  gelu_tanh: `def gelu_tanh(x):
    """GELU with the tanh approximation, PyTorch's nn.GELU(approximate='tanh')."""
    return keras.activations.gelu(x, approximate=True)`,
} as const;

type KerasHelper = keyof typeof KERAS_HELPERS;

class KerasWriter {
  readonly helpers = new Set<KerasHelper>();
  private readonly info = new Map<ResolvedLeaf, LeafInfo>();

  constructor(model: ResolvedModel) {
    for (const leaf of model.leaves) this.info.set(leaf.node, leaf);
  }

  private shapes(node: ResolvedLeaf): LeafInfo {
    return this.info.get(node) ?? internal(`no shapes for ${node.key}`);
  }

  /** Keras's "same" when the pads are TensorFlow's SAME for this input, else explicit zero padding and "valid". */
  private padding(conv: ResolvedConv2d, layers: KerasLayer[]): string {
    const [top, bottom, left, right] = conv.pads ?? internal(`no pads for ${conv.key}`);
    if (top + bottom + left + right === 0) return "'valid'";
    if (conv.paddingMode !== 'zeros') {
      layers.push({
        notes: [
          `PyTorch pads ${conv.key} with padding_mode='${conv.paddingMode}'; Keras has no such padding layer, so zeros are used and the border pixels differ.`,
        ],
      });
    }
    const input = this.shapes(conv).inShape;
    const tf = [0, 1].flatMap((d) => resolvePadding('tf_same', d as 0 | 1, input[2 + d]!, conv.kernel[d]!, conv.stride[d]!, conv.dilation[d]!));
    if (tf[0] === top && tf[1] === bottom && tf[2] === left && tf[3] === right) return "'same'";
    layers.push({ code: `layers.ZeroPadding2D(padding=((${top}, ${bottom}), (${left}, ${right})))`, notes: [] });
    return "'valid'";
  }

  private convOptions(conv: ResolvedConv2d, notes: string[]): string[] {
    const options: string[] = [];
    if (conv.stride[0] !== 1 || conv.stride[1] !== 1) options.push(`strides=${pyPair(conv.stride)}`);
    if (conv.dilation[0] !== 1 || conv.dilation[1] !== 1) {
      options.push(`dilation_rate=${pyPair(conv.dilation)}`);
      if (conv.stride[0] !== 1 || conv.stride[1] !== 1)
        notes.push('Keras refuses strides > 1 together with dilation_rate > 1; this layer has no exact Keras form.');
    }
    return options;
  }

  conv(conv: ResolvedConv2d): KerasLayer[] {
    const layers: KerasLayer[] = [];
    const notes: string[] = [];
    const padding = this.padding(conv, layers);
    const options = [`padding=${padding}`, ...this.convOptions(conv, notes)];
    if (!conv.bias) options.push('use_bias=False');
    const kernel = `kernel_size=${pyPair(conv.kernel)}`;
    if (conv.groups === conv.inChannels && conv.groups > 1) {
      const multiplier = conv.outChannels / conv.inChannels;
      layers.push({
        code: `layers.DepthwiseConv2D(${[kernel, ...(multiplier !== 1 ? [`depth_multiplier=${multiplier}`] : []), ...options].join(', ')})`,
        notes,
      });
    } else {
      layers.push({
        code: `layers.Conv2D(${[String(conv.outChannels), kernel, ...(conv.groups > 1 ? [`groups=${conv.groups}`] : []), ...options].join(', ')})`,
        notes,
      });
    }
    return layers;
  }

  /** A bias-free depthwise conv directly followed by a plain 1x1 conv is one SeparableConv2D. */
  separable(dw: ResolvedConv2d, pw: ResolvedConv2d): KerasLayer[] {
    const layers: KerasLayer[] = [];
    const notes: string[] = [];
    const padding = this.padding(dw, layers);
    const options = [`kernel_size=${pyPair(dw.kernel)}`, `padding=${padding}`, ...this.convOptions(dw, notes)];
    const multiplier = dw.outChannels / dw.inChannels;
    if (multiplier !== 1) options.push(`depth_multiplier=${multiplier}`);
    if (!pw.bias) options.push('use_bias=False');
    layers.push({
      code: `layers.SeparableConv2D(${[String(pw.outChannels), ...options].join(', ')})`,
      notes: [`${dw.key} (depthwise) and ${pw.key} (pointwise) as one layer.`, ...notes],
    });
    return layers;
  }

  leaf(node: ResolvedLeaf): KerasLayer[] {
    switch (node.op) {
      case 'conv2d':
        return this.conv(node);
      case 'batchnorm2d': {
        const options = [`epsilon=${pyNumber(node.eps)}`, `momentum=${pyNumber(Math.round((1 - node.momentum) * 1e12) / 1e12)}`];
        if (!node.affine) options.push('center=False', 'scale=False');
        const notes = node.trackRunningStats
          ? []
          : ['PyTorch normalises with the batch statistics here (track_running_stats=False); Keras uses its moving statistics at inference.'];
        return [{ code: `layers.BatchNormalization(${options.join(', ')})`, notes }];
      }
      case 'activation':
        switch (node.fn) {
          case 'ReLU':
            return [{ code: 'layers.ReLU()', notes: [] }];
          case 'ReLU6':
            return [{ code: 'layers.ReLU(max_value=6.0)', notes: [] }];
          case 'SiLU':
            return [{ code: "layers.Activation('silu')", notes: [] }];
          case 'Hardswish':
            return [{ code: "layers.Activation('hard_swish')", notes: [] }];
          case 'Identity':
            return [{ code: 'layers.Identity()', notes: [] }];
          case 'Hardsigmoid':
            return [{ code: "layers.Activation('hard_sigmoid')", notes: [] }];
          case 'Sigmoid':
            return [{ code: "layers.Activation('sigmoid')", notes: [] }];
          case 'Tanh':
            return [{ code: "layers.Activation('tanh')", notes: [] }];
          case 'LeakyReLU':
            return [{ code: `layers.LeakyReLU(negative_slope=${pyNumber(node.negativeSlope)})`, notes: [] }];
          case 'GELU': {
            const helper: KerasHelper = node.approximate === 'tanh' ? 'gelu_tanh' : 'gelu_erf';
            this.helpers.add(helper);
            return [{ code: `layers.Activation(${helper})`, notes: [] }];
          }
        }
        return internal(`unknown activation ${String(node.fn)}`);
      case 'dropout':
        return [{ code: `layers.Dropout(${pyNumber(node.p)})`, notes: [] }];
      case 'adaptiveavgpool2d': {
        const [, , h, w] = this.shapes(node).inShape as [number, number, number, number];
        const [oh, ow] = node.outputSize;
        if (oh === 1 && ow === 1) return [{ code: 'layers.GlobalAveragePooling2D(keepdims=True)', notes: [] }];
        if (h % oh === 0 && w % ow === 0) return [{ code: `layers.AveragePooling2D(pool_size=${pyPair([h / oh, w / ow])})`, notes: [] }];
        return [
          {
            notes: [
              `AdaptiveAvgPool2d(${pyPair(node.outputSize)}) on ${h}x${w} has uneven bins, which no Keras layer computes: left out, so the shapes after this point differ.`,
            ],
          },
        ];
      }
      case 'flatten': {
        const input = this.shapes(node).inShape;
        const notes: string[] = [];
        if (node.startDim !== 1 || (node.endDim !== -1 && node.endDim !== input.length - 1)) {
          notes.push(`PyTorch flattens dims ${node.startDim}..${node.endDim} only; Keras's Flatten keeps the batch dimension and flattens the rest.`);
        } else if (input.length === 4 && input[2]! * input[3]! > 1) {
          notes.push(
            "channels_last: Keras orders the flattened features H, W, C where PyTorch orders C, H, W; the next Dense layer's weights must be permuted to match.",
          );
        }
        return [{ code: 'layers.Flatten()', notes }];
      }
      case 'linear':
        return [{ code: `layers.Dense(${node.outFeatures}${node.bias ? '' : ', use_bias=False'})`, notes: [] }];
      case 'maxpool2d':
      case 'avgpool2d': {
        const notes: string[] = [];
        if (node.padding[0] + node.padding[1] > 0)
          notes.push(
            `PyTorch pads ${node.key} by ${pyPair(node.padding)} (${node.op === 'maxpool2d' ? '-inf' : node.countIncludePad ? 'zeros, counted' : 'zeros, not counted'}); Keras pools without it, so the shapes after this point differ.`,
          );
        if (node.ceilMode) notes.push('ceil_mode=True has no Keras form: Keras floors the output size.');
        if (node.dilation[0] * node.dilation[1] > 1) notes.push('Keras pooling has no dilation.');
        if (node.divisorOverride !== undefined) notes.push('divisor_override has no Keras form.');
        const name = node.op === 'maxpool2d' ? 'MaxPooling2D' : 'AveragePooling2D';
        return [{ code: `layers.${name}(pool_size=${pyPair(node.kernel)}, strides=${pyPair(node.stride)})`, notes }];
      }
      case 'convtranspose2d': {
        const notes: string[] = [];
        if (node.padding[0] + node.padding[1] > 0)
          notes.push(`PyTorch crops ${pyPair(node.padding)} from each side of ${node.key}'s output; Keras's padding='valid' does not, so add a Cropping2D.`);
        if (node.groups > 1) notes.push('Keras has no grouped Conv2DTranspose; this layer has no exact Keras form.');
        const options = [String(node.outChannels), `kernel_size=${pyPair(node.kernel)}`, `strides=${pyPair(node.stride)}`, "padding='valid'"];
        if (node.outputPadding[0] + node.outputPadding[1] > 0) options.push(`output_padding=${pyPair(node.outputPadding)}`);
        if (node.dilation[0] * node.dilation[1] > 1) options.push(`dilation_rate=${pyPair(node.dilation)}`);
        if (!node.bias) options.push('use_bias=False');
        return [{ code: `layers.Conv2DTranspose(${options.join(', ')})`, notes }];
      }
      case 'upsample': {
        const { inShape, outShape } = this.shapes(node);
        const factors = [outShape[2]! / inShape[2]!, outShape[3]! / inShape[3]!] as [number, number];
        if (!factors.every(Number.isInteger))
          return [
            {
              notes: [
                `Upsample ${node.key} to ${outShape[2]}x${outShape[3]} is not an integer factor of ${inShape[2]}x${inShape[3]}, which UpSampling2D needs: left out, so the shapes after this point differ.`,
              ],
            },
          ];
        const notes = node.alignCorners ? ['align_corners=True has no UpSampling2D form: the values differ.'] : [];
        return [{ code: `layers.UpSampling2D(size=${pyPair(factors)}, interpolation='${node.mode}')`, notes }];
      }
      case 'channelshuffle':
        return [
          {
            notes: [
              `ChannelShuffle(${node.groups}) at ${node.key} has no Keras layer (a Reshape, Permute and Reshape of the channels would do it): left out, so the channels after this point are in another order.`,
            ],
          },
        ];
      case 'softmax':
        return [
          {
            code: 'layers.Softmax()',
            notes: node.dim === 1 || node.dim === -1 ? [] : [`PyTorch's Softmax(dim=${node.dim}); Keras's Softmax takes the last (channels) axis.`],
          },
        ];
      case 'add':
      case 'mul':
      case 'concat':
      case 'split':
        return internal(`${node.key}: a graph op (${node.op}) has no Keras Sequential form`);
    }
  }

  private isSeparablePair(a: ResolvedNode | undefined, b: ResolvedNode | undefined): boolean {
    if (a?.op !== 'conv2d' || b?.op !== 'conv2d') return false;
    const depthwise = a.groups === a.inChannels && a.groups > 1 && !a.bias && a.paddingMode === 'zeros';
    const pointwise =
      b.kernel[0] === 1 && b.kernel[1] === 1 && b.stride[0] === 1 && b.stride[1] === 1 && b.groups === 1 && (b.pads ?? [1]).every((p) => p === 0);
    return depthwise && pointwise;
  }

  /** The layers of a node in order; residuals become `{ residual: [...] }` blocks. */
  sequence(nodes: ResolvedNode[]): KerasItem[] {
    const items: KerasItem[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      if (node.op === 'sequence') items.push(...this.sequence(node.children));
      else if (node.op === 'residual') items.push({ residual: this.sequence(node.body.children), key: node.key });
      else if (node.op === 'channelscale') items.push({ residual: this.sequence(node.body.children), key: node.key, multiply: true });
      else if (this.isSeparablePair(node, nodes[i + 1])) items.push(...this.separable(node as ResolvedConv2d, nodes[++i] as ResolvedConv2d));
      else items.push(...this.leaf(node));
    }
    return items;
  }
}

/** A block whose output is combined with its input: added (a residual), or multiplied (squeeze-excitation). */
type KerasItem = KerasLayer | { residual: KerasItem[]; key: string; multiply?: boolean };

function hasResidual(items: KerasItem[]): boolean {
  return items.some((item) => 'residual' in item);
}

/** `notes` as comment lines, then the call (or nothing), each prefixed. */
function kerasLines(layer: KerasLayer, indent: string, format: (code: string) => string): string[] {
  return [...layer.notes.map((n) => `${indent}${comment(n)}`), ...(layer.code ? [`${indent}${format(layer.code)}`] : [])];
}

function functionalLines(items: KerasItem[], indent: string, depth: number): string[] {
  const lines: string[] = [];
  for (const item of items) {
    if ('residual' in item) {
      const skip = depth === 0 ? 'skip' : `skip${depth + 1}`;
      const what = item.multiply ? "squeeze-excitation, the input is scaled by the body's output" : "residual, the input is added to the body's output";
      lines.push(`${indent}${comment(`${item.key}: ${what}`)}`, `${indent}${skip} = x`);
      lines.push(...functionalLines(item.residual, indent, depth + 1));
      lines.push(`${indent}x = layers.${item.multiply ? 'Multiply' : 'Add'}()([${skip}, x])`);
    } else {
      lines.push(...kerasLines(item, indent, (code) => `x = ${code}(x)`));
    }
  }
  return lines;
}

/**
 * A Keras 3 snippet (channels_last) for the model: `keras.Sequential([...])`, or the functional
 * API when the model has residual adds. Layers that have no exact Keras form carry a comment.
 */
export function kerasCode(model: ResolvedModel): string {
  if (model.form === 'graph') throw new Error('code export takes the chain form (a model with "layers"); this model is a graph');
  const writer = new KerasWriter(model);
  const perLayer = model.layers.map((layer) => ({ layer, items: writer.sequence([layer.node]) }));
  const [, c, h, w] = model.inputShape;
  const functional = perLayer.some(({ items }) => hasResidual(items));
  const body: string[] = [];
  for (const { layer, items } of perLayer) {
    const note = comment(`${layer.index}: ${layer.spec.type}, ${shapeText(layer.inShape)} -> ${shapeText(layer.outShape)} (NCHW)`);
    if (functional) body.push(`${note}`, ...functionalLines(items, '', 0));
    else body.push(`${INDENT}${note}`, ...items.flatMap((item) => kerasLines(item as KerasLayer, INDENT, (code) => `${code},`)));
  }
  const out: string[] = [
    comment(`${model.name}: Keras export of a SepConv Lab model spec.`),
    comment(`Keras is channels_last: input (H, W, C) = (${h}, ${w}, ${c}); PyTorch's NCHW ${shapeText(model.inputShape)}.`),
    '# Conv kernels are stored (kh, kw, in, out) in Keras and (out, in, kh, kw) in PyTorch.',
    'import keras',
    'from keras import layers',
    '',
  ];
  for (const name of Object.keys(KERAS_HELPERS) as KerasHelper[]) {
    if (writer.helpers.has(name)) out.push('', KERAS_HELPERS[name], '');
  }
  out.push('');
  if (functional) {
    out.push(`inputs = keras.Input(shape=(${h}, ${w}, ${c}))`, 'x = inputs', ...body, `model = keras.Model(inputs, x, name=${pyString(safeName(model.name))})`);
  } else {
    out.push('model = keras.Sequential([', `${INDENT}keras.Input(shape=(${h}, ${w}, ${c})),`, ...body, `], name=${pyString(safeName(model.name))})`);
  }
  out.push('');
  return out.join('\n');
}

/** Keras model names: letters, digits, _ . - only. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'model';
}
