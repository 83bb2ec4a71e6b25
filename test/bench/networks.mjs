// The networks the CPU benchmarks run (scripts/bench.mjs, scripts/threadScaling.mjs), as model
// specs of this project: MobileNetV1's depthwise-separable layers and the whole MobileNetV1-224.

/** MobileNetV1 layers A..F: 3x3 depthwise + bias + ReLU, then 1x1 pointwise + bias + ReLU. */
export const LAYERS = [
  ['A', 32, 112, 1, 64],
  ['B', 64, 112, 2, 128],
  ['C', 128, 56, 1, 128],
  ['D', 256, 28, 1, 256],
  ['E', 512, 14, 1, 512],
  ['F', 1024, 7, 1, 1024],
];

export function separable(c, stride, cout) {
  return [
    { type: 'Conv2d', in_channels: c, out_channels: c, kernel_size: 3, stride, padding: 1, groups: c, bias: true },
    { type: 'ReLU' },
    { type: 'Conv2d', in_channels: c, out_channels: cout, kernel_size: 1, bias: true },
    { type: 'ReLU' },
  ];
}

/** MobileNetV1-224 (width 1.0), batch norm folded into the conv biases. */
export function mobileNetV1() {
  const blocks = [
    [32, 64, 1],
    [64, 128, 2],
    [128, 128, 1],
    [128, 256, 2],
    [256, 256, 1],
    [256, 512, 2],
    [512, 512, 1],
    [512, 512, 1],
    [512, 512, 1],
    [512, 512, 1],
    [512, 512, 1],
    [512, 1024, 2],
    [1024, 1024, 1],
  ];
  return {
    name: 'MobileNetV1-224',
    layers: [
      { type: 'Conv2d', in_channels: 3, out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: true },
      { type: 'ReLU' },
      ...blocks.flatMap(([c, cout, s]) => separable(c, s, cout)),
      { type: 'AdaptiveAvgPool2d', output_size: 1 },
      { type: 'Flatten' },
      { type: 'Linear', in_features: 1024, out_features: 1000 },
    ],
  };
}

/** The bench's rows: layers A..F and the whole MobileNetV1-224, each with its spec and input shape. */
export function benchRows() {
  return [
    ...LAYERS.map(([name, c, size, stride, cout]) => ({
      name,
      label: `${name}: C=${c} ${size}x${size} s${stride} -> ${cout}`,
      spec: { name, layers: separable(c, stride, cout) },
      inputShape: [1, c, size, size],
    })),
    { name: 'net', label: 'MobileNetV1-224', spec: mobileNetV1(), inputShape: [1, 3, 224, 224] },
  ];
}
