// Writes media/model-spec.schema.json, the JSON schema of the model spec (src/shared/spec.ts).
// Run: node scripts/writeSchema.mjs. A unit test checks that the committed file is current.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const int = (min = 1) => ({ type: 'integer', minimum: min });
const pair = (min = 1) => ({ oneOf: [int(min), { type: 'array', items: int(min), minItems: 2, maxItems: 2 }] });
const activation = { enum: ['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'GELU', 'Identity', 'Hardsigmoid', 'Sigmoid', 'Tanh', 'LeakyReLU'] };
const positivePair = {
  oneOf: [
    { type: 'number', exclusiveMinimum: 0 },
    { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 2, maxItems: 2 },
  ],
};
const padding = { oneOf: [int(0), { type: 'array', items: int(0), minItems: 2, maxItems: 2 }, { enum: ['same', 'valid', 'tf_same'] }] };
const paddingMode = { enum: ['zeros', 'reflect', 'replicate', 'circular'], default: 'zeros' };

function layer(type, properties, required = [], description = undefined) {
  return {
    type: 'object',
    ...(description ? { description } : {}),
    properties: { type: { const: type }, ...properties },
    required: ['type', ...required],
    additionalProperties: false,
  };
}

export function buildSchema() {
  const layers = [
    layer(
      'Conv2d',
      {
        in_channels: int(),
        out_channels: int(),
        kernel_size: pair(),
        stride: { ...pair(), default: 1 },
        padding: { ...padding, default: 0 },
        dilation: { ...pair(), default: 1 },
        groups: { ...int(), default: 1 },
        bias: { type: 'boolean', default: true },
        padding_mode: paddingMode,
      },
      ['in_channels', 'out_channels', 'kernel_size'],
      'torch.nn.Conv2d. Depthwise: groups == in_channels; pointwise: kernel_size 1. padding "tf_same" is TensorFlow\'s SAME (asymmetric).',
    ),
    layer(
      'BatchNorm2d',
      {
        num_features: int(),
        eps: { type: 'number', exclusiveMinimum: 0, default: 1e-5 },
        momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.1 },
        affine: { type: 'boolean', default: true },
        track_running_stats: { type: 'boolean', default: true },
      },
      ['num_features'],
      'torch.nn.BatchNorm2d, inference mode (running statistics).',
    ),
    ...['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'Hardsigmoid', 'Identity'].map((t) => layer(t, { inplace: { type: 'boolean' } })),
    layer('Sigmoid', {}),
    layer('Tanh', {}),
    layer('LeakyReLU', { negative_slope: { type: 'number', default: 0.01 }, inplace: { type: 'boolean' } }),
    layer('GELU', { approximate: { enum: ['none', 'tanh'], default: 'none' } }),
    layer('Dropout', { p: { type: 'number', minimum: 0, maximum: 1, default: 0.5 }, inplace: { type: 'boolean' } }, [], 'Identity at inference.'),
    layer('AdaptiveAvgPool2d', { output_size: pair() }, ['output_size']),
    layer('Flatten', { start_dim: { type: 'integer', minimum: -4, default: 1 }, end_dim: { type: 'integer', minimum: -4, default: -1 } }),
    layer('Linear', { in_features: int(), out_features: int(), bias: { type: 'boolean', default: true } }, ['in_features', 'out_features']),
    layer('Softmax', { dim: { type: 'integer', minimum: -4 } }, ['dim'], 'torch.nn.Softmax.'),
    layer('Sequential', { layers: { type: 'array', items: { $ref: '#/$defs/layer' }, minItems: 1 } }, ['layers'], 'nn.Sequential(*layers): keys <i>.<j>.*'),
    layer(
      'MaxPool2d',
      {
        kernel_size: pair(),
        stride: { ...pair(), description: 'default: kernel_size' },
        padding: { ...pair(0), default: 0 },
        dilation: { ...pair(), default: 1 },
        return_indices: { const: false, default: false },
        ceil_mode: { type: 'boolean', default: false },
      },
      ['kernel_size'],
      'torch.nn.MaxPool2d. padding (with -inf) at most half the kernel; ceil_mode drops a last window that would start in the right padding.',
    ),
    layer(
      'AvgPool2d',
      {
        kernel_size: pair(),
        stride: { ...pair(), description: 'default: kernel_size' },
        padding: { ...pair(0), default: 0 },
        ceil_mode: { type: 'boolean', default: false },
        count_include_pad: { type: 'boolean', default: true },
        divisor_override: { type: 'integer', not: { const: 0 } },
      },
      ['kernel_size'],
      'torch.nn.AvgPool2d. padding (zeros) at most half the kernel.',
    ),
    layer(
      'ConvTranspose2d',
      {
        in_channels: int(),
        out_channels: int(),
        kernel_size: pair(),
        stride: { ...pair(), default: 1 },
        padding: { ...pair(0), default: 0 },
        output_padding: { ...pair(0), default: 0 },
        groups: { ...int(), default: 1 },
        bias: { type: 'boolean', default: true },
        dilation: { ...pair(), default: 1 },
        padding_mode: { const: 'zeros', default: 'zeros' },
      },
      ['in_channels', 'out_channels', 'kernel_size'],
      'torch.nn.ConvTranspose2d; weight [in_channels, out_channels / groups, kh, kw]. output_padding must be smaller than stride or dilation.',
    ),
    layer(
      'Upsample',
      {
        size: pair(),
        scale_factor: positivePair,
        mode: { enum: ['nearest', 'bilinear'], default: 'nearest' },
        align_corners: { type: 'boolean', description: 'bilinear only' },
        recompute_scale_factor: { type: 'boolean', default: false },
      },
      [],
      'torch.nn.Upsample: exactly one of size and scale_factor.',
    ),
    layer('ChannelShuffle', { groups: int() }, ['groups'], 'torch.nn.ChannelShuffle: channels [g, C/g] transposed to [C/g, g].'),
    layer(
      'SqueezeExcitation',
      {
        input_channels: int(),
        squeeze_channels: int(),
        activation: { ...activation, default: 'ReLU' },
        scale_activation: { ...activation, default: 'Sigmoid' },
      },
      ['input_channels', 'squeeze_channels'],
      'torchvision.ops.SqueezeExcitation: x * scale_activation(fc2(activation(fc1(avgpool(x))))); keys <i>.fc1.*, <i>.fc2.*; activations as class names.',
    ),
    layer(
      'DepthwiseSeparable',
      {
        in_channels: int(),
        out_channels: int(),
        kernel_size: { ...pair(), default: 3 },
        stride: { ...pair(), default: 1 },
        padding,
        dilation: { ...pair(), default: 1 },
        depth_multiplier: { ...int(), default: 1 },
        bias: { type: 'boolean', default: false },
        batch_norm: { type: 'boolean', default: true },
        activation: { ...activation, default: 'ReLU' },
        pw_activation: activation,
        padding_mode: paddingMode,
      },
      ['in_channels', 'out_channels'],
      'nn.Sequential(dw conv, [BN], [act], pw 1x1 conv, [BN], [act]); keys <i>.0.weight, <i>.1.*, ...',
    ),
    layer(
      'InvertedResidual',
      {
        in_channels: int(),
        out_channels: int(),
        stride: { enum: [1, 2], default: 1 },
        expand_ratio: { type: 'number', minimum: 1, default: 6 },
        kernel_size: { ...int(), default: 3 },
        activation: { ...activation, default: 'ReLU6' },
      },
      ['in_channels', 'out_channels'],
      "MobileNetV2's block with torchvision's keys (<i>.conv.0.0.weight, ...); skip add when stride 1 and in == out.",
    ),
    layer('Residual', { body: { type: 'array', items: { $ref: '#/$defs/layer' }, minItems: 1 } }, ['body'], 'out = body(x) + x; the shapes must match.'),
  ];
  // The graph form: every layer as a node (its fields plus name and inputs), and the ops that take or give several values.
  const valueName = { type: 'string', pattern: '^(input|[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)*(:[0-9]+)?)$' };
  const nodeFields = {
    name: {
      type: 'string',
      pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)*$',
      description: 'unique; the state_dict prefix of the node\'s weights ("features.0" -> "features.0.weight")',
    },
    inputs: { type: 'array', items: valueName, minItems: 1, description: '"input" (the model input), "<node>", or "<node>:<i>" (the i-th output of a Split)' },
  };
  const asNode = (l) => ({ ...l, properties: { ...l.properties, ...nodeFields }, required: [...l.required, 'name', 'inputs'] });
  const graphOps = [
    layer('Add', {}, [], 'a + b, numpy broadcasting.'),
    layer('Mul', {}, [], 'a * b, numpy broadcasting (N,C,H,W * N,C,1,1: a channel gate).'),
    layer('Concat', { dim: { type: 'integer', minimum: -4, default: 0 } }, [], 'torch.cat(inputs, dim).'),
    layer(
      'Split',
      {
        split_size_or_sections: { oneOf: [int(), { type: 'array', items: int(), minItems: 1 }] },
        dim: { type: 'integer', minimum: -4, default: 0 },
      },
      ['split_size_or_sections'],
      'torch.split(x, split_size_or_sections, dim); outputs "<name>:0", "<name>:1", ...',
    ),
  ].map(asNode);
  const common = {
    $schema: { type: 'string' },
    name: { type: 'string' },
    input_shape: { type: 'array', items: int(), minItems: 4, maxItems: 4, description: '[N, C, H, W]' },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://sepconv-lab.github.io/schema/model-spec.json',
    title: 'SepConv Lab model spec',
    description:
      'A model whose layers mirror PyTorch modules. The chain form (layers): torch.nn.Sequential(*layers) has the same structure and state_dict keys. The graph form (nodes): named nodes in topological order, each naming the values it reads.',
    type: 'object',
    oneOf: [
      {
        title: 'chain form',
        type: 'object',
        properties: { ...common, layers: { type: 'array', items: { $ref: '#/$defs/layer' }, minItems: 1 } },
        required: ['layers'],
        additionalProperties: false,
      },
      {
        title: 'graph form',
        type: 'object',
        properties: {
          ...common,
          nodes: { type: 'array', items: { $ref: '#/$defs/node' }, minItems: 1 },
          outputs: { type: 'array', items: valueName, minItems: 1, description: "the model outputs; default: the last node's output" },
        },
        required: ['nodes'],
        additionalProperties: false,
      },
    ],
    $defs: { layer: { oneOf: layers }, node: { oneOf: [...layers.map(asNode), ...graphOps] } },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync('media/model-spec.schema.json', `${JSON.stringify(buildSchema(), null, 2)}\n`);
  console.log('wrote media/model-spec.schema.json');
}
