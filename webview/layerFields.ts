/**
 * What the layer editor shows for each layer type: every argument of the spec, its kind and its
 * default (as the spec resolves it), and the text <-> value conversion of the editor's inputs.
 */
import { ACTIVATION_TYPES, PADDING_MODES, UPSAMPLE_MODES, type LayerSpec, type LayerType, type Shape } from '../src/shared/spec';

export type FieldKind = 'int' | 'pair' | 'padding' | 'number' | 'bool' | 'activation' | 'padding_mode' | 'approximate' | 'upsample_mode' | 'body';

export interface FieldInfo {
  name: string;
  kind: FieldKind;
  /** Shown as the placeholder of an empty field (the value the spec uses when it is left out). */
  defaultText?: string;
  required?: boolean;
  hint?: string;
}

const act = (name: string, defaultText: string, hint?: string): FieldInfo => ({ name, kind: 'activation', defaultText, hint });

const CONV: FieldInfo[] = [
  { name: 'in_channels', kind: 'int', required: true },
  { name: 'out_channels', kind: 'int', required: true },
  { name: 'kernel_size', kind: 'pair', required: true, hint: 'an integer or "h, w"' },
  { name: 'stride', kind: 'pair', defaultText: '1' },
  { name: 'padding', kind: 'padding', defaultText: '0', hint: 'an integer, "h, w", same, valid or tf_same' },
  { name: 'dilation', kind: 'pair', defaultText: '1' },
  { name: 'groups', kind: 'int', defaultText: '1', hint: 'in_channels for a depthwise conv' },
  { name: 'bias', kind: 'bool', defaultText: 'true' },
  { name: 'padding_mode', kind: 'padding_mode', defaultText: 'zeros' },
];

/** The window MaxPool2d and AvgPool2d read alike (the spec resolves both in one place); only what the padding holds differs. */
const poolWindow = (paddingValue: string): FieldInfo[] => [
  { name: 'kernel_size', kind: 'pair', required: true, hint: 'an integer or "h, w"' },
  { name: 'stride', kind: 'pair', defaultText: 'kernel_size' },
  { name: 'padding', kind: 'pair', defaultText: '0', hint: `at most half the kernel; pads with ${paddingValue}` },
];

const ACTIVATION_FIELDS: FieldInfo[] = [{ name: 'inplace', kind: 'bool', defaultText: 'false' }];

export const LAYER_FIELDS: Record<LayerType, FieldInfo[]> = {
  Conv2d: CONV,
  BatchNorm2d: [
    { name: 'num_features', kind: 'int', required: true },
    { name: 'eps', kind: 'number', defaultText: '1e-05' },
    { name: 'momentum', kind: 'number', defaultText: '0.1' },
    { name: 'affine', kind: 'bool', defaultText: 'true' },
    { name: 'track_running_stats', kind: 'bool', defaultText: 'true' },
  ],
  ReLU: ACTIVATION_FIELDS,
  ReLU6: ACTIVATION_FIELDS,
  SiLU: ACTIVATION_FIELDS,
  Hardswish: ACTIVATION_FIELDS,
  GELU: [{ name: 'approximate', kind: 'approximate', defaultText: 'none' }],
  Identity: [],
  Dropout: [
    { name: 'p', kind: 'number', defaultText: '0.5' },
    { name: 'inplace', kind: 'bool', defaultText: 'false' },
  ],
  AdaptiveAvgPool2d: [{ name: 'output_size', kind: 'pair', required: true }],
  Flatten: [
    { name: 'start_dim', kind: 'int', defaultText: '1' },
    { name: 'end_dim', kind: 'int', defaultText: '-1' },
  ],
  Linear: [
    { name: 'in_features', kind: 'int', required: true },
    { name: 'out_features', kind: 'int', required: true },
    { name: 'bias', kind: 'bool', defaultText: 'true' },
  ],
  DepthwiseSeparable: [
    { name: 'in_channels', kind: 'int', required: true },
    { name: 'out_channels', kind: 'int', required: true },
    { name: 'kernel_size', kind: 'pair', defaultText: '3' },
    { name: 'stride', kind: 'pair', defaultText: '1' },
    { name: 'padding', kind: 'padding', defaultText: 'keep size', hint: 'default: dilation * (kernel - 1) / 2 per side' },
    { name: 'dilation', kind: 'pair', defaultText: '1' },
    { name: 'depth_multiplier', kind: 'int', defaultText: '1' },
    { name: 'bias', kind: 'bool', defaultText: 'false' },
    { name: 'batch_norm', kind: 'bool', defaultText: 'true' },
    act('activation', 'ReLU'),
    act('pw_activation', 'same as activation', 'after the pointwise conv; Identity for a linear output'),
    { name: 'padding_mode', kind: 'padding_mode', defaultText: 'zeros' },
  ],
  InvertedResidual: [
    { name: 'in_channels', kind: 'int', required: true },
    { name: 'out_channels', kind: 'int', required: true },
    { name: 'stride', kind: 'int', defaultText: '1' },
    { name: 'expand_ratio', kind: 'int', defaultText: '6' },
    { name: 'kernel_size', kind: 'int', defaultText: '3' },
    act('activation', 'ReLU6'),
  ],
  Residual: [{ name: 'body', kind: 'body', required: true, hint: 'the layers whose output is added to the input, as JSON' }],
  Hardsigmoid: ACTIVATION_FIELDS,
  Sigmoid: [],
  Tanh: [],
  LeakyReLU: [
    { name: 'negative_slope', kind: 'number', defaultText: '0.01' },
    { name: 'inplace', kind: 'bool', defaultText: 'false' },
  ],
  MaxPool2d: [...poolWindow('-inf'), { name: 'dilation', kind: 'pair', defaultText: '1' }, { name: 'ceil_mode', kind: 'bool', defaultText: 'false' }],
  AvgPool2d: [
    ...poolWindow('zeros'),
    { name: 'ceil_mode', kind: 'bool', defaultText: 'false' },
    { name: 'count_include_pad', kind: 'bool', defaultText: 'true' },
    { name: 'divisor_override', kind: 'int', defaultText: 'window size' },
  ],
  ConvTranspose2d: [
    { name: 'in_channels', kind: 'int', required: true },
    { name: 'out_channels', kind: 'int', required: true },
    { name: 'kernel_size', kind: 'pair', required: true, hint: 'an integer or "h, w"' },
    { name: 'stride', kind: 'pair', defaultText: '1' },
    { name: 'padding', kind: 'pair', defaultText: '0', hint: 'removed from each side of the output' },
    { name: 'output_padding', kind: 'pair', defaultText: '0', hint: 'added after; smaller than stride or dilation' },
    { name: 'groups', kind: 'int', defaultText: '1', hint: 'in_channels for a depthwise transposed conv' },
    { name: 'bias', kind: 'bool', defaultText: 'true' },
    { name: 'dilation', kind: 'pair', defaultText: '1' },
  ],
  Upsample: [
    { name: 'size', kind: 'pair', defaultText: 'from scale_factor', hint: 'the output size, or leave empty and give scale_factor' },
    { name: 'scale_factor', kind: 'pair', defaultText: 'from size', hint: 'a number or "h, w"' },
    { name: 'mode', kind: 'upsample_mode', defaultText: 'nearest' },
    { name: 'align_corners', kind: 'bool', defaultText: 'false (bilinear only)' },
    { name: 'recompute_scale_factor', kind: 'bool', defaultText: 'false' },
  ],
  ChannelShuffle: [{ name: 'groups', kind: 'int', required: true }],
  SqueezeExcitation: [
    { name: 'input_channels', kind: 'int', required: true },
    { name: 'squeeze_channels', kind: 'int', required: true },
    act('activation', 'ReLU', 'after fc1'),
    act('scale_activation', 'Sigmoid', 'after fc2: the channel weights'),
  ],
  Sequential: [{ name: 'layers', kind: 'body', required: true, hint: 'the layers, one after another, as JSON' }],
  Softmax: [{ name: 'dim', kind: 'int', required: true, hint: '1: over the channels (or the features after Flatten)' }],
};

export function optionsOf(kind: FieldKind): readonly string[] | undefined {
  if (kind === 'activation') return ACTIVATION_TYPES;
  if (kind === 'padding_mode') return PADDING_MODES;
  if (kind === 'approximate') return ['none', 'tanh'];
  if (kind === 'upsample_mode') return UPSAMPLE_MODES;
  if (kind === 'bool') return ['true', 'false'];
  return undefined;
}

/** The text an input shows for a field's value. */
export function fieldText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return value.join(', ');
  if (typeof value === 'object') return JSON.stringify(value, null, 1);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects are handled above: only primitives reach String()
  return String(value);
}

/**
 * The value for a field's text: undefined (left out: the default) for empty text, numbers and
 * pairs where the text reads as one, the raw text otherwise (so that the spec's validation names
 * what is wrong with it, at the field).
 */
export function parseFieldText(kind: FieldKind, text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  switch (kind) {
    case 'int':
    case 'number': {
      const n = Number(trimmed);
      return Number.isFinite(n) ? n : trimmed;
    }
    case 'pair':
    case 'padding': {
      if (kind === 'padding' && ['same', 'valid', 'tf_same'].includes(trimmed)) return trimmed;
      const parts = trimmed
        .replace(/^[[(]|[\])]$/g, '')
        .split(/[\s,x]+/)
        .filter(Boolean);
      const numbers = parts.map(Number);
      if (numbers.every(Number.isFinite)) {
        if (numbers.length === 1) return numbers[0];
        if (numbers.length === 2) return numbers;
      }
      return trimmed;
    }
    case 'bool':
      return trimmed === 'true' ? true : trimmed === 'false' ? false : trimmed;
    case 'body':
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        return trimmed;
      }
    default:
      return trimmed;
  }
}

/** A new layer of a type, with channels that fit the shape before it. */
export function newLayer(type: LayerType, before: Shape | undefined): LayerSpec {
  const channels = before && before.length === 4 ? before[1]! : before && before.length === 2 ? before[1]! : 32;
  switch (type) {
    case 'Conv2d':
      return { type, in_channels: channels, out_channels: channels, kernel_size: 3, padding: 1 };
    case 'BatchNorm2d':
      return { type, num_features: channels };
    case 'DepthwiseSeparable':
      return { type, in_channels: channels, out_channels: channels * 2 };
    case 'InvertedResidual':
      return { type, in_channels: channels, out_channels: channels, expand_ratio: 6 };
    case 'Residual':
      return { type, body: [{ type: 'DepthwiseSeparable', in_channels: channels, out_channels: channels }] };
    case 'Dropout':
      return { type, p: 0.2 };
    case 'AdaptiveAvgPool2d':
      return { type, output_size: 1 };
    case 'Flatten':
      return { type };
    case 'Linear':
      return { type, in_features: channels, out_features: 10 };
    case 'MaxPool2d':
    case 'AvgPool2d':
      return { type, kernel_size: 2 };
    case 'ConvTranspose2d':
      return { type, in_channels: channels, out_channels: channels, kernel_size: 2, stride: 2 };
    case 'Upsample':
      return { type, scale_factor: 2, mode: 'nearest' };
    case 'ChannelShuffle':
      return { type, groups: channels % 2 === 0 ? 2 : 1 };
    case 'SqueezeExcitation':
      return { type, input_channels: channels, squeeze_channels: Math.max(1, Math.floor(channels / 4)) };
    case 'Sequential':
      return { type, layers: [{ type: 'Conv2d', in_channels: channels, out_channels: channels, kernel_size: 3, padding: 1 }] };
    case 'Softmax':
      return { type, dim: 1 };
    default:
      return { type };
  }
}
