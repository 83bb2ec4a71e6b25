// Writes media/model-spec.schema.json, the JSON schema of the model spec (src/shared/spec.ts).
// Run: node scripts/writeSchema.mjs. A unit test checks that the committed file is current.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const int = (min = 1) => ({ type: 'integer', minimum: min });
const pair = (min = 1) => ({ oneOf: [int(min), { type: 'array', items: int(min), minItems: 2, maxItems: 2 }] });
const activation = { enum: ['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'GELU', 'Identity'] };
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
    layer('Conv2d', {
      in_channels: int(), out_channels: int(), kernel_size: pair(), stride: { ...pair(), default: 1 }, padding: { ...padding, default: 0 },
      dilation: { ...pair(), default: 1 }, groups: { ...int(), default: 1 }, bias: { type: 'boolean', default: true }, padding_mode: paddingMode,
    }, ['in_channels', 'out_channels', 'kernel_size'], 'torch.nn.Conv2d. Depthwise: groups == in_channels; pointwise: kernel_size 1. padding "tf_same" is TensorFlow\'s SAME (asymmetric).'),
    layer('BatchNorm2d', {
      num_features: int(), eps: { type: 'number', exclusiveMinimum: 0, default: 1e-5 }, momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.1 },
      affine: { type: 'boolean', default: true }, track_running_stats: { type: 'boolean', default: true },
    }, ['num_features'], 'torch.nn.BatchNorm2d, inference mode (running statistics).'),
    ...['ReLU', 'ReLU6', 'SiLU', 'Hardswish', 'Identity'].map((t) => layer(t, { inplace: { type: 'boolean' } })),
    layer('GELU', { approximate: { enum: ['none', 'tanh'], default: 'none' } }),
    layer('Dropout', { p: { type: 'number', minimum: 0, maximum: 1, default: 0.5 }, inplace: { type: 'boolean' } }, [], 'Identity at inference.'),
    layer('AdaptiveAvgPool2d', { output_size: pair() }, ['output_size']),
    layer('Flatten', { start_dim: { type: 'integer', minimum: -4, default: 1 }, end_dim: { type: 'integer', minimum: -4, default: -1 } }),
    layer('Linear', { in_features: int(), out_features: int(), bias: { type: 'boolean', default: true } }, ['in_features', 'out_features']),
    layer('DepthwiseSeparable', {
      in_channels: int(), out_channels: int(), kernel_size: { ...pair(), default: 3 }, stride: { ...pair(), default: 1 }, padding,
      dilation: { ...pair(), default: 1 }, depth_multiplier: { ...int(), default: 1 }, bias: { type: 'boolean', default: false },
      batch_norm: { type: 'boolean', default: true }, activation: { ...activation, default: 'ReLU' }, pw_activation: activation, padding_mode: paddingMode,
    }, ['in_channels', 'out_channels'], 'nn.Sequential(dw conv, [BN], [act], pw 1x1 conv, [BN], [act]); keys <i>.0.weight, <i>.1.*, ...'),
    layer('InvertedResidual', {
      in_channels: int(), out_channels: int(), stride: { enum: [1, 2], default: 1 }, expand_ratio: { type: 'number', minimum: 1, default: 6 },
      kernel_size: { ...int(), default: 3 }, activation: { ...activation, default: 'ReLU6' },
    }, ['in_channels', 'out_channels'], "MobileNetV2's block with torchvision's keys (<i>.conv.0.0.weight, ...); skip add when stride 1 and in == out."),
    layer('Residual', { body: { type: 'array', items: { $ref: '#/$defs/layer' }, minItems: 1 } }, ['body'], 'out = body(x) + x; the shapes must match.'),
  ];
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://sepconv-lab.github.io/schema/model-spec.json',
    title: 'SepConv Lab model spec',
    description: 'A model whose layers mirror PyTorch modules: torch.nn.Sequential(*layers) has the same structure and state_dict keys.',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      name: { type: 'string' },
      input_shape: { type: 'array', items: int(), minItems: 4, maxItems: 4, description: '[N, C, H, W]' },
      layers: { type: 'array', items: { $ref: '#/$defs/layer' }, minItems: 1 },
    },
    required: ['layers'],
    additionalProperties: false,
    $defs: { layer: { oneOf: layers } },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync('media/model-spec.schema.json', `${JSON.stringify(buildSchema(), null, 2)}\n`);
  console.log('wrote media/model-spec.schema.json');
}
