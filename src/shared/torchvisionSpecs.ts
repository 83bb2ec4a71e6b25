/**
 * torchvision's MobileNetV2 and MobileNetV3 (small, large), width 1.0, as graph-form specs whose
 * node names are torchvision's module paths: the spec's state_dict keys are the keys
 * `model.state_dict()` has (`features.1.conv.0.0.weight`, `classifier.1.weight`, ...), so that a
 * torch.save'd state_dict of one of these networks maps onto it key by key.
 */
import { MOBILENET_V2_SETTINGS } from './presets';
import type { GraphModelSpec, GraphNodeSpec } from './spec';

/** The structures a checkpoint is recognised as. */
export const TORCHVISION_STRUCTURES = ['mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large'] as const;
export type TorchvisionStructure = (typeof TORCHVISION_STRUCTURES)[number];

/** The key of each structure's last Linear weight ([num_classes, features]). */
export const CLASSIFIER_WEIGHT: Record<TorchvisionStructure, string> = {
  mobilenet_v2: 'classifier.1.weight',
  mobilenet_v3_small: 'classifier.3.weight',
  mobilenet_v3_large: 'classifier.3.weight',
};

/** torchvision's `_make_divisible(v, 8)`: v rounded to a multiple of 8, never below 90% of v. */
function divisible8(v: number): number {
  const rounded = Math.max(8, Math.floor((v + 4) / 8) * 8);
  return rounded < 0.9 * v ? rounded + 8 : rounded;
}

function convNormAct(
  cin: number,
  cout: number,
  kernel: number,
  stride: number,
  groups: number,
  activation: string | undefined,
  eps: number,
): Record<string, unknown> {
  return {
    type: 'Sequential',
    layers: [
      { type: 'Conv2d', in_channels: cin, out_channels: cout, kernel_size: kernel, stride, padding: (kernel - 1) / 2, groups, bias: false },
      { type: 'BatchNorm2d', num_features: cout, eps },
      ...(activation ? [{ type: activation }] : []),
    ],
  };
}

/** Chains nodes that each read the one before (the first reads the input). */
function chained(nodes: Array<Record<string, unknown>>): GraphNodeSpec[] {
  let previous = 'input';
  return nodes.map((node) => {
    const linked = { ...node, inputs: [previous] };
    previous = node.name as string;
    return linked as unknown as GraphNodeSpec;
  });
}

/** torchvision.models.mobilenet_v2(num_classes): (t, c, n, s) as in the paper's Table 2. */
export function mobilenetV2Spec(numClasses = 1000, inputShape: number[] = [1, 3, 224, 224]): GraphModelSpec {
  const nodes: Array<Record<string, unknown>> = [{ name: 'features.0', ...convNormAct(3, 32, 3, 2, 1, 'ReLU6', 1e-5) }];
  let channels = 32;
  for (const [t, c, n, s] of MOBILENET_V2_SETTINGS) {
    for (let i = 0; i < n; i++) {
      nodes.push({
        name: `features.${nodes.length}`,
        type: 'InvertedResidual',
        in_channels: channels,
        out_channels: c,
        stride: i === 0 ? s : 1,
        expand_ratio: t,
      });
      channels = c;
    }
  }
  nodes.push({ name: 'features.18', ...convNormAct(320, 1280, 1, 1, 1, 'ReLU6', 1e-5) });
  nodes.push(
    { name: 'pool', type: 'AdaptiveAvgPool2d', output_size: 1 },
    { name: 'flatten', type: 'Flatten', start_dim: 1 },
    { name: 'classifier.0', type: 'Dropout', p: 0.2 },
    { name: 'classifier.1', type: 'Linear', in_features: 1280, out_features: numClasses },
  );
  return { name: 'torchvision mobilenet_v2', input_shape: inputShape, nodes: chained(nodes) };
}

/** One inverted residual setting of MobileNetV3: (in, kernel, expanded, out, squeeze-and-excitation, activation, stride). */
type V3Block = [number, number, number, number, boolean, 'ReLU' | 'Hardswish', number];

// torchvision's tables (_mobilenet_v3_conf), width 1.0, no dilation.
const V3_SMALL: V3Block[] = [
  [16, 3, 16, 16, true, 'ReLU', 2],
  [16, 3, 72, 24, false, 'ReLU', 2],
  [24, 3, 88, 24, false, 'ReLU', 1],
  [24, 5, 96, 40, true, 'Hardswish', 2],
  [40, 5, 240, 40, true, 'Hardswish', 1],
  [40, 5, 240, 40, true, 'Hardswish', 1],
  [40, 5, 120, 48, true, 'Hardswish', 1],
  [48, 5, 144, 48, true, 'Hardswish', 1],
  [48, 5, 288, 96, true, 'Hardswish', 2],
  [96, 5, 576, 96, true, 'Hardswish', 1],
  [96, 5, 576, 96, true, 'Hardswish', 1],
];
const V3_LARGE: V3Block[] = [
  [16, 3, 16, 16, false, 'ReLU', 1],
  [16, 3, 64, 24, false, 'ReLU', 2],
  [24, 3, 72, 24, false, 'ReLU', 1],
  [24, 5, 72, 40, true, 'ReLU', 2],
  [40, 5, 120, 40, true, 'ReLU', 1],
  [40, 5, 120, 40, true, 'ReLU', 1],
  [40, 3, 240, 80, false, 'Hardswish', 2],
  [80, 3, 200, 80, false, 'Hardswish', 1],
  [80, 3, 184, 80, false, 'Hardswish', 1],
  [80, 3, 184, 80, false, 'Hardswish', 1],
  [80, 3, 480, 112, true, 'Hardswish', 1],
  [112, 3, 672, 112, true, 'Hardswish', 1],
  [112, 5, 672, 160, true, 'Hardswish', 2],
  [160, 5, 960, 160, true, 'Hardswish', 1],
  [160, 5, 960, 160, true, 'Hardswish', 1],
];

/** torchvision.models.mobilenet_v3_small / mobilenet_v3_large(num_classes). */
export function mobilenetV3Spec(size: 'small' | 'large', numClasses = 1000, inputShape: number[] = [1, 3, 224, 224]): GraphModelSpec {
  const table = size === 'small' ? V3_SMALL : V3_LARGE;
  const eps = 0.001; // torchvision's MobileNetV3 BatchNorm: eps 0.001
  const nodes: Array<Record<string, unknown>> = [{ name: 'features.0', inputs: ['input'], ...convNormAct(3, 16, 3, 2, 1, 'Hardswish', eps) }];
  let previous = 'features.0';
  table.forEach(([cin, kernel, expanded, cout, se, activation, stride], i) => {
    const layers: unknown[] = [];
    if (expanded !== cin) layers.push(convNormAct(cin, expanded, 1, 1, 1, activation, eps));
    layers.push(convNormAct(expanded, expanded, kernel, stride, expanded, activation, eps));
    if (se)
      layers.push({
        type: 'SqueezeExcitation',
        input_channels: expanded,
        squeeze_channels: divisible8(Math.floor(expanded / 4)),
        scale_activation: 'Hardsigmoid',
      });
    layers.push(convNormAct(expanded, cout, 1, 1, 1, undefined, eps));
    const name = `features.${i + 1}.block`;
    nodes.push({ name, type: 'Sequential', layers, inputs: [previous] });
    if (stride === 1 && cin === cout) {
      nodes.push({ name: `features.${i + 1}.add`, type: 'Add', inputs: [previous, name] });
      previous = `features.${i + 1}.add`;
    } else previous = name;
  });
  const last = table[table.length - 1]![3];
  const lastConv = 6 * last;
  const hidden = size === 'small' ? 1024 : 1280;
  const end = `features.${table.length + 1}`;
  nodes.push({ name: end, inputs: [previous], ...convNormAct(last, lastConv, 1, 1, 1, 'Hardswish', eps) });
  nodes.push(
    { name: 'avgpool', type: 'AdaptiveAvgPool2d', output_size: 1, inputs: [end] },
    { name: 'flatten', type: 'Flatten', start_dim: 1, inputs: ['avgpool'] },
    { name: 'classifier.0', type: 'Linear', in_features: lastConv, out_features: hidden, inputs: ['flatten'] },
    { name: 'classifier.1', type: 'Hardswish', inputs: ['classifier.0'] },
    { name: 'classifier.3', type: 'Linear', in_features: hidden, out_features: numClasses, inputs: ['classifier.1'] },
  );
  return { name: `torchvision mobilenet_v3_${size}`, input_shape: inputShape, nodes: nodes as unknown as GraphNodeSpec[] };
}

export function torchvisionSpec(structure: TorchvisionStructure, numClasses = 1000, inputShape?: number[]): GraphModelSpec {
  return structure === 'mobilenet_v2'
    ? mobilenetV2Spec(numClasses, inputShape)
    : mobilenetV3Spec(structure === 'mobilenet_v3_small' ? 'small' : 'large', numClasses, inputShape);
}
