/**
 * Built-in models: whole networks (MobileNetV1-224, MobileNetV2-224) and the blocks they are
 * made of, as model specs.
 */
import type { ActivationType, LayerSpec, ModelSpec } from './spec';

export interface Preset {
  name: string;
  description: string;
  model: ModelSpec;
}

function convBnAct(inChannels: number, outChannels: number, kernel: number, stride: number, act: ActivationType): LayerSpec[] {
  return [
    { type: 'Conv2d', in_channels: inChannels, out_channels: outChannels, kernel_size: kernel, stride, padding: Math.floor((kernel - 1) / 2), bias: false },
    { type: 'BatchNorm2d', num_features: outChannels },
    { type: act },
  ];
}

/** MobileNetV1's 13 separable blocks (paper, Table 1): [out_channels, dw stride]. */
export const MOBILENET_V1_BLOCKS: ReadonlyArray<readonly [number, number]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

function mobileNetV1(): ModelSpec {
  const layers: LayerSpec[] = convBnAct(3, 32, 3, 2, 'ReLU');
  let channels = 32;
  for (const [out, stride] of MOBILENET_V1_BLOCKS) {
    layers.push({ type: 'DepthwiseSeparable', in_channels: channels, out_channels: out, kernel_size: 3, stride });
    channels = out;
  }
  layers.push({ type: 'AdaptiveAvgPool2d', output_size: 1 }, { type: 'Flatten' }, { type: 'Linear', in_features: 1024, out_features: 1000 });
  return { name: 'MobileNetV1-224', input_shape: [1, 3, 224, 224], layers };
}

/** MobileNetV2's inverted residual settings (paper, Table 2): t, c, n, s. */
export const MOBILENET_V2_SETTINGS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function mobileNetV2(): ModelSpec {
  const layers: LayerSpec[] = convBnAct(3, 32, 3, 2, 'ReLU6');
  let channels = 32;
  for (const [t, c, n, s] of MOBILENET_V2_SETTINGS) {
    for (let i = 0; i < n; i++) {
      layers.push({ type: 'InvertedResidual', in_channels: channels, out_channels: c, stride: i === 0 ? s : 1, expand_ratio: t });
      channels = c;
    }
  }
  layers.push(...convBnAct(channels, 1280, 1, 1, 'ReLU6'));
  layers.push(
    { type: 'AdaptiveAvgPool2d', output_size: 1 },
    { type: 'Flatten' },
    { type: 'Dropout', p: 0.2 },
    { type: 'Linear', in_features: 1280, out_features: 1000 },
  );
  return { name: 'MobileNetV2-224', input_shape: [1, 3, 224, 224], layers };
}

function xceptionBlock(channels: number, size: number): ModelSpec {
  const unit: LayerSpec[] = [
    { type: 'ReLU' },
    { type: 'DepthwiseSeparable', in_channels: channels, out_channels: channels, kernel_size: 3, batch_norm: false, activation: 'Identity' },
    { type: 'BatchNorm2d', num_features: channels },
  ];
  return {
    name: `Xception middle-flow block (${channels} channels)`,
    input_shape: [1, channels, size, size],
    layers: [{ type: 'Residual', body: [...unit, ...unit, ...unit] }],
  };
}

export const PRESETS: readonly Preset[] = [
  { name: 'mobilenet_v1', description: 'MobileNetV1-224, width 1.0 (Howard et al. 2017): 4.2M params, 569M mult-adds', model: mobileNetV1() },
  { name: 'mobilenet_v2', description: 'MobileNetV2-224, width 1.0 (Sandler et al. 2018), torchvision layout: 3.5M params, 300M MACs', model: mobileNetV2() },
  {
    name: 'mobilenet_v1_block',
    description: 'One MobileNetV1 separable block: 3x3 depthwise, BN, ReLU, 1x1 pointwise 32->64, BN, ReLU at 112x112',
    model: { name: 'MobileNetV1 separable block', input_shape: [1, 32, 112, 112], layers: [{ type: 'DepthwiseSeparable', in_channels: 32, out_channels: 64 }] },
  },
  {
    name: 'mobilenet_v1_first3',
    description: 'The stem and the first three separable blocks of MobileNetV1-224',
    model: {
      name: 'MobileNetV1 stem + 3 blocks',
      input_shape: [1, 3, 224, 224],
      layers: [
        ...convBnAct(3, 32, 3, 2, 'ReLU'),
        { type: 'DepthwiseSeparable', in_channels: 32, out_channels: 64 },
        { type: 'DepthwiseSeparable', in_channels: 64, out_channels: 128, stride: 2 },
        { type: 'DepthwiseSeparable', in_channels: 128, out_channels: 128 },
      ],
    },
  },
  {
    name: 'mobilenet_v2_block',
    description: 'One MobileNetV2 inverted residual: expand 24->144, 3x3 depthwise, project 144->24, with the skip add, at 56x56',
    model: {
      name: 'MobileNetV2 inverted residual',
      input_shape: [1, 24, 56, 56],
      layers: [{ type: 'InvertedResidual', in_channels: 24, out_channels: 24, expand_ratio: 6 }],
    },
  },
  {
    name: 'xception_block',
    description: 'Xception middle-flow block: 3 x (ReLU, separable 3x3, BN) with a residual add, 728 channels at 19x19',
    model: xceptionBlock(728, 19),
  },
  {
    name: 'plain_conv3x3',
    description: 'A standard 3x3 conv 32->64, BN, ReLU at 112x112: what the MobileNetV1 block replaces',
    model: { name: 'Plain 3x3 conv', input_shape: [1, 32, 112, 112], layers: convBnAct(32, 64, 3, 1, 'ReLU') },
  },
];

/** A copy of a preset's model (callers may edit it), or undefined. */
export function getPreset(name: string): ModelSpec | undefined {
  const preset = PRESETS.find((p) => p.name === name);
  return preset ? structuredClone(preset.model) : undefined;
}

export function listPresets(): ReadonlyArray<{ name: string; description: string }> {
  return PRESETS.map(({ name, description }) => ({ name, description }));
}
