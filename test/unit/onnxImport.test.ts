import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OnnxError, readOnnxModel, tensorValues } from '../../src/io/onnx';
import { importOnnxFile } from '../../src/io/onnxFiles';
import { importOnnx, type OnnxImport } from '../../src/io/onnxImport';
import { applyByteEdits, byteEdits } from './byteEdits';
import { encode, rawBytes, seeded, writeOnnx, type ModelInit, type NodeInit, type TensorInit } from './onnxWriter';

const weight = (name: string, dims: number[], seed: number): TensorInit => ({
  name,
  dims,
  data: seeded(
    dims.reduce((a, b) => a * b, 1),
    seed,
  ),
});
const positive = (name: string, count: number, seed: number): TensorInit => ({ name, dims: [count], data: seeded(count, seed).map((v) => 1.5 + v) });

/** Conv, BN, Relu, GlobalAveragePool, Flatten, Gemm, Softmax with PyTorch-style initializer names. */
function smallClassifier(extra: Partial<ModelInit> = {}): ModelInit {
  return {
    input: { name: 'input', shape: ['batch', 3, 8, 8] },
    outputs: ['prob'],
    initializers: [
      weight('features.0.weight', [4, 3, 3, 3], 1),
      weight('features.0.bias', [4], 2),
      positive('features.1.weight', 4, 3),
      weight('features.1.bias', [4], 4),
      weight('features.1.running_mean', [4], 5),
      positive('features.1.running_var', 4, 6),
      weight('classifier.weight', [5, 4], 7),
      weight('classifier.bias', [5], 8),
    ],
    nodes: [
      {
        op: 'Conv',
        inputs: ['input', 'features.0.weight', 'features.0.bias'],
        outputs: ['c'],
        name: '/features/features.0/Conv',
        attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] },
      },
      {
        op: 'BatchNormalization',
        inputs: ['c', 'features.1.weight', 'features.1.bias', 'features.1.running_mean', 'features.1.running_var'],
        outputs: ['b'],
        attrs: { epsilon: { float: 1e-3 } },
      },
      { op: 'Relu', inputs: ['b'], outputs: ['r'] },
      { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['f'], attrs: { axis: 1 } },
      { op: 'Gemm', inputs: ['f', 'classifier.weight', 'classifier.bias'], outputs: ['logits'], attrs: { transB: 1 } },
      { op: 'Softmax', inputs: ['logits'], outputs: ['prob'], attrs: { axis: 1 } },
    ],
    ...extra,
  };
}

const types = (r: OnnxImport) => r.spec.nodes.map((n) => n.type);

describe('readOnnxModel', () => {
  it('decodes the messages of a hand-written model: opset, nodes, attributes, initializers, input shape', () => {
    const model = readOnnxModel(writeOnnx(smallClassifier()));
    expect(model.opsets.get('')).toBe(13);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Softmax']);
    expect(model.graph.inputs[0]).toEqual({ name: 'input', elemType: 1, shape: ['batch', 3, 8, 8] });
    const conv = model.graph.nodes[0]!;
    expect(conv.attributes.find((a) => a.name === 'pads')?.ints).toEqual([1, 1, 1, 1]);
    expect(model.graph.nodes[1]!.attributes[0]!.f).toBeCloseTo(1e-3, 9);
    const init = model.graph.initializers[0]!;
    expect(init.dims).toEqual([4, 3, 3, 3]);
    expect(Array.from(tensorValues(init))).toEqual(Array.from(Float32Array.from(seeded(108, 1))));
  });

  it('reads negative and 64-bit int64 values (Slice ends of INT64_MAX, axis -1)', () => {
    const bytes = writeOnnx({ ...smallClassifier(), nodes: [{ op: 'Relu', inputs: ['input'], outputs: ['prob'], attrs: { axes: [-1, 2 ** 40] } }] });
    const a = readOnnxModel(bytes).graph.nodes[0]!.attributes[0]!;
    expect(a.ints).toEqual([-1, 2 ** 40]);
    const huge = readOnnxModel(writeOnnx({ ...smallClassifier(), initializers: [{ name: 'ends', dims: [1], data: [0], int64: true }], nodes: [] }));
    const t = { ...huge.graph.initializers[0]!, raw: rawBytesOfBig(9223372036854775807n) };
    expect(tensorValues(t)).toEqual([2 ** 63]);
  });

  it('refuses truncated files, lying lengths, over-long varints and huge dimensions with an OnnxError that says why', () => {
    const bytes = writeOnnx(smallClassifier());
    expect(() => readOnnxModel(bytes.subarray(0, bytes.length - 7))).toThrow(/truncated or lying|truncated/);
    // A graph field (7) claiming 2^40 bytes.
    expect(() =>
      readOnnxModel(
        encode([
          [1, 'varint', 8],
          [7, 'bytes', new Uint8Array(3)],
        ]).map((b, i) => (i === 3 ? 200 : b)),
      ),
    ).toThrow(OnnxError);
    const lying = Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(() => readOnnxModel(lying)).toThrow(/length 4294967295 at byte 3 runs past the end/);
    expect(() => readOnnxModel(Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(
      /varint longer than 10 bytes/,
    );
    const hugeDims = writeOnnx({ ...smallClassifier(), initializers: [{ name: 'w', dims: [100000, 100000, 100000], data: [] }] });
    expect(() => readOnnxModel(hugeDims)).toThrow(/tensor "w": dims \[100000, 100000, 100000\] hold more than/);
    const short = writeOnnx({ ...smallClassifier(), initializers: [{ name: 'w', dims: [2, 3], data: [1, 2, 3] }] });
    expect(() => tensorValues(readOnnxModel(short).graph.initializers[0]!)).toThrow(/need 24 bytes but its data holds 12/);
    expect(() => readOnnxModel(new Uint8Array(0))).toThrow(/no graph/);
    // A float_data field of 2^24 + 1 packed values (64 MiB): refused before 128 MiB of numbers are made.
    const manyFloats = encode([
      [1, 'varint', 8],
      [
        7,
        'message',
        [
          [
            5,
            'message',
            [
              [2, 'varint', 1],
              [4, 'bytes', new Uint8Array(4 * (2 ** 24 + 1))],
            ],
          ],
        ],
      ],
    ]);
    expect(() => readOnnxModel(manyFloats)).toThrow(/more than 16777216 values in a repeated field/);
    expect(() => readOnnxModel(new TextEncoder().encode('PK\x03\x04 not a model'))).toThrow(OnnxError);
  });

  it('never throws anything but an OnnxError, nor hangs, on corrupted models (byte edits, truncation)', () => {
    const original = writeOnnx(smallClassifier());
    const check = (bytes: Uint8Array) => {
      try {
        importOnnx(bytes);
      } catch (error) {
        if (!(error instanceof OnnxError)) throw error;
      }
    };
    fc.assert(
      fc.property(byteEdits, (edits) => check(applyByteEdits(original, edits, original.length))),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.nat({ max: original.length }), (end) => check(original.subarray(0, end))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (random) => check(random)),
      { numRuns: 2000 },
    );
  });
});

function rawBytesOfBig(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, value, true);
  return out;
}

describe('importOnnx', () => {
  it('maps a classifier onto graph-form nodes named after the module paths, with the weights under <node>.<param>', () => {
    const r = importOnnx(writeOnnx(smallClassifier()));
    expect(r.unsupported).toBeUndefined();
    expect(r.inputShape).toEqual([1, 3, 8, 8]);
    expect(r.spec.nodes.map((n) => [n.name, n.type])).toEqual([
      ['features.0', 'Conv2d'],
      ['features.1', 'BatchNorm2d'],
      ['r', 'ReLU'],
      ['g', 'AdaptiveAvgPool2d'],
      ['f', 'Flatten'],
      ['classifier', 'Linear'],
      ['prob', 'Softmax'],
    ]);
    expect(r.spec.nodes[0]).toMatchObject({
      inputs: ['input'],
      in_channels: 3,
      out_channels: 4,
      kernel_size: [3, 3],
      stride: [2, 2],
      padding: [1, 1],
      groups: 1,
      bias: true,
    });
    expect(r.spec.nodes[1]).toMatchObject({ inputs: ['features.0'], num_features: 4 });
    expect(r.spec.nodes[1]!.eps).toBeCloseTo(1e-3, 9);
    expect(r.spec.nodes[5]).toMatchObject({ in_features: 4, out_features: 5, bias: true });
    expect(r.spec.outputs).toEqual(['prob']);
    expect(Object.keys(r.weights).sort()).toEqual([
      'classifier.bias',
      'classifier.weight',
      'features.0.bias',
      'features.0.weight',
      'features.1.bias',
      'features.1.running_mean',
      'features.1.running_var',
      'features.1.weight',
    ]);
    expect(r.nodes.map((n) => n.outputShapes[0])).toEqual([
      [1, 4, 4, 4],
      [1, 4, 4, 4],
      [1, 4, 4, 4],
      [1, 4, 1, 1],
      [1, 4],
      [1, 5],
      [1, 5],
    ]);
    // Params: conv 108 + 4, BN affine 8, linear 20 + 5; the running statistics are not parameters.
    expect(r.params).toBe(108 + 4 + 8 + 20 + 5);
    expect(r.nodes[0]!.macs).toBe(1 * 4 * 4 * 4 * 3 * 9);
    expect(r.warnings).toEqual([]);
  });

  it('imports at the given input shape, and refuses one that disagrees with the model', () => {
    const open = importOnnx(writeOnnx(smallClassifier({ input: { name: 'input', shape: ['batch', 3, 'height', 'width'] } })), { inputShape: [2, 3, 16, 16] });
    expect(open.nodes[0]!.outputShapes[0]).toEqual([2, 4, 8, 8]);
    expect(importOnnx(writeOnnx(smallClassifier({ input: { name: 'input', shape: ['batch', 3, 'height', 'width'] } }))).warnings).toEqual([
      'the model leaves its input size open ([?, 3, ?, ?]); imported at [1, 3, 224, 224]',
    ]);
    expect(() => importOnnx(writeOnnx(smallClassifier()), { inputShape: [1, 3, 16, 16] })).toThrow(
      /disagrees with the model's "input" \[batch, 3, 8, 8\] at dimension 2/,
    );
    expect(() => importOnnx(writeOnnx(smallClassifier()), { inputShape: [1, 4, 8, 8] })).toThrow(
      /disagrees with the model's "input" \[batch, 3, 8, 8\] at dimension 1/,
    );
  });

  it("transposes MatMul weights and Gemm weights without transB into Linear's [out, in]", () => {
    const w = weight('w', [4, 5], 9);
    const model = smallClassifier({
      nodes: [...smallClassifier().nodes.slice(0, 5), { op: 'MatMul', inputs: ['f', 'w'], outputs: ['prob'] }],
      initializers: [...smallClassifier().initializers!, w],
    });
    const r = importOnnx(writeOnnx(model));
    const linear = r.weights[`${r.spec.nodes[5]!.name}.weight`]!;
    expect(linear.shape).toEqual([5, 4]);
    expect(linear.data[1 * 4 + 2]).toBe(Math.fround(w.data[2 * 5 + 1]!));
  });

  it('folds the shape arithmetic exporters emit (Shape, Gather, Unsqueeze, Concat, Cast, Slice, Reshape) into a flatten', () => {
    const nodes: NodeInit[] = [
      ...smallClassifier().nodes.slice(0, 4),
      { op: 'Shape', inputs: ['g'], outputs: ['s'] },
      { op: 'Constant', inputs: [], outputs: ['zero'], attrs: { value: { tensor: { name: '', dims: [], data: [0], int64: true } } } },
      { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['n', 'axes0'], outputs: ['n1'] },
      { op: 'Slice', inputs: ['s', 'one', 'two', 'axes0'], outputs: ['c1'] },
      { op: 'Cast', inputs: ['c1'], outputs: ['c1i'], attrs: { to: 7 } },
      { op: 'Concat', inputs: ['n1', 'c1i'], outputs: ['target'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['g', 'target'], outputs: ['f'] },
      ...smallClassifier().nodes.slice(5),
    ];
    const initializers = [
      ...smallClassifier().initializers!,
      { name: 'axes0', dims: [1], data: [0], int64: true },
      { name: 'one', dims: [1], data: [1], int64: true },
      { name: 'two', dims: [1], data: [2], int64: true },
    ];
    const r = importOnnx(writeOnnx(smallClassifier({ nodes, initializers })));
    expect(r.unsupported).toBeUndefined();
    expect(types(r)).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU', 'AdaptiveAvgPool2d', 'Flatten', 'Linear', 'Softmax']);
  });

  const act = (nodes: NodeInit[], initializers: TensorInit[] = []) =>
    importOnnx(
      writeOnnx({
        input: { name: 'x', shape: [1, 4, 5, 5] },
        outputs: [nodes[nodes.length - 1]!.outputs[0]!],
        nodes,
        initializers: [...initializers, { name: 'three', dims: [], data: [3] }, { name: 'six', dims: [], data: [6] }, { name: 'zero', dims: [], data: [0] }],
      }),
    );

  it('fuses x * clip(x + 3, 0, 6) / 6, x * HardSigmoid(x) and x * Sigmoid(x) into Hardswish and SiLU', () => {
    const paddle = act([
      { op: 'Add', inputs: ['x', 'three'], outputs: ['a'] },
      { op: 'Clip', inputs: ['a', 'zero', 'six'], outputs: ['c'] },
      { op: 'Mul', inputs: ['x', 'c'], outputs: ['m'] },
      { op: 'Div', inputs: ['m', 'six'], outputs: ['y'] },
    ]);
    expect(paddle.spec.nodes.map((n) => [n.type, n.inputs])).toEqual([['Hardswish', ['input']]]);
    expect(
      act([
        { op: 'HardSigmoid', inputs: ['x'], outputs: ['h'], attrs: { alpha: { float: 1 / 6 } } },
        { op: 'Mul', inputs: ['h', 'x'], outputs: ['y'] },
      ]).spec.nodes.map((n) => n.type),
    ).toEqual(['Hardswish']);
    expect(
      act([
        { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
        { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
      ]).spec.nodes.map((n) => n.type),
    ).toEqual(['SiLU']);
    // A sigmoid of another value (squeeze-and-excitation) is a Sigmoid and a Mul.
    const se = act([
      { op: 'Relu', inputs: ['x'], outputs: ['r'] },
      { op: 'Sigmoid', inputs: ['r'], outputs: ['s'] },
      { op: 'Mul', inputs: ['x', 's'], outputs: ['y'] },
    ]);
    expect(se.spec.nodes.map((n) => [n.type, n.inputs])).toEqual([
      ['ReLU', ['input']],
      ['Sigmoid', ['r']],
      ['Mul', ['input', 's']],
    ]);
    // The clip read twice is not fused.
    const shared = act([
      { op: 'Add', inputs: ['x', 'three'], outputs: ['a'] },
      { op: 'Clip', inputs: ['a', 'zero', 'six'], outputs: ['c'] },
      { op: 'Mul', inputs: ['x', 'c'], outputs: ['m'] },
      { op: 'Div', inputs: ['m', 'six'], outputs: ['d'] },
      { op: 'Add', inputs: ['d', 'c'], outputs: ['y'] },
    ]);
    expect(shared.spec.nodes.map((n) => n.type)).toEqual(['BatchNorm2d', 'ReLU6', 'Mul', 'BatchNorm2d', 'Add']);
  });

  it("imports HardSigmoid with PaddlePaddle's slope 0.2 as an affine and PyTorch's Hardsigmoid", () => {
    const r = act([{ op: 'HardSigmoid', inputs: ['x'], outputs: ['y'], attrs: { alpha: { float: 0.2 }, beta: { float: 0.5 } } }]);
    expect(r.spec.nodes.map((n) => n.type)).toEqual(['BatchNorm2d', 'Hardsigmoid']);
    const affine = r.spec.nodes[0]!.name;
    // clamp(0.2 x + 0.5, 0, 1) = clamp((1.2 x + 0) / 6 + 0.5, 0, 1).
    expect(Array.from(r.weights[`${affine}.weight`]!.data)).toEqual([1.2, 1.2, 1.2, 1.2].map(Math.fround));
    expect(Array.from(r.weights[`${affine}.bias`]!.data).map((v) => Math.abs(v) < 1e-6)).toEqual([true, true, true, true]);
    expect(r.params).toBe(0);
  });

  it('imports scalar and per-channel Mul/Add/Sub/Div constants as an exact affine, and a per-channel Add after a bias-free conv as its bias', () => {
    const r = act(
      [
        { op: 'Mul', inputs: ['s', 'x'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'shift'], outputs: ['y'] },
      ],
      [
        { name: 's', dims: [1], data: [0.5] },
        { name: 'shift', dims: [1, 4, 1, 1], data: [1, 2, 3, 4] },
      ],
    );
    expect(r.spec.nodes.map((n) => n.type)).toEqual(['BatchNorm2d', 'BatchNorm2d']);
    expect(Array.from(r.weights[`${r.spec.nodes[1]!.name}.bias`]!.data)).toEqual([1, 2, 3, 4]);
    expect(r.spec.nodes[1]!.eps).toBeLessThan(1e-7);
    expect(r.params).toBe(1 + 4);
    const conv = act(
      [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { kernel_shape: [1, 1] } },
        { op: 'Add', inputs: ['c', 'shift'], outputs: ['y'] },
      ],
      [weight('w', [4, 4, 1, 1], 3), { name: 'shift', dims: [1, 4, 1, 1], data: [1, 2, 3, 4] }],
    );
    expect(conv.spec.nodes.map((n) => [n.type, n.bias])).toEqual([['Conv2d', true]]);
    expect(Array.from(conv.weights[`${conv.spec.nodes[0]!.name}.bias`]!.data)).toEqual([1, 2, 3, 4]);
    expect(conv.params).toBe(16 + 4);
    const wide = act([{ op: 'Mul', inputs: ['x', 'k'], outputs: ['y'] }], [{ name: 'k', dims: [5], data: [1, 2, 3, 4, 5] }]);
    expect(wide.unsupported?.message).toMatch(/Mul by a constant of dims \[5\] on \[1, 4, 5, 5\] is not imported/);
  });

  it('turns Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape back into ChannelShuffle', () => {
    const r = act(
      [
        { op: 'Reshape', inputs: ['x', 'five'], outputs: ['r'] },
        { op: 'Transpose', inputs: ['r'], outputs: ['t'], attrs: { perm: [0, 2, 1, 3, 4] } },
        { op: 'Reshape', inputs: ['t', 'four'], outputs: ['y'] },
      ],
      [
        { name: 'five', dims: [5], data: [1, 2, 2, 5, 5], int64: true },
        { name: 'four', dims: [4], data: [1, -1, 5, 5], int64: true },
      ],
    );
    expect(r.spec.nodes.map((n) => [n.type, n.groups, n.inputs])).toEqual([['ChannelShuffle', 2, ['input']]]);
    const loose = act(
      [
        { op: 'Reshape', inputs: ['x', 'five'], outputs: ['r'] },
        { op: 'Relu', inputs: ['r'], outputs: ['y'] },
      ],
      [{ name: 'five', dims: [5], data: [1, 2, 2, 5, 5], int64: true }],
    );
    expect(loose.unsupported?.reason).toMatch(/not part of a channel shuffle/);
  });

  it('imports channel slices (x.chunk) as the outputs of one Split', () => {
    const r = act(
      [
        { op: 'Slice', inputs: ['x', 'zero_i', 'two_i', 'one_i'], outputs: ['a'] },
        { op: 'Slice', inputs: ['x', 'two_i', 'big', 'one_i'], outputs: ['b'] },
        { op: 'Concat', inputs: ['b', 'a'], outputs: ['y'], attrs: { axis: 1 } },
      ],
      [
        { name: 'zero_i', dims: [1], data: [0], int64: true },
        { name: 'two_i', dims: [1], data: [2], int64: true },
        { name: 'one_i', dims: [1], data: [1], int64: true },
        { name: 'big', dims: [1], data: [2 ** 40], int64: true },
      ],
    );
    expect(r.spec.nodes.map((n) => [n.type, n.inputs])).toEqual([
      ['Split', ['input']],
      ['Concat', [`${r.spec.nodes[0]!.name}:1`, `${r.spec.nodes[0]!.name}:0`]],
    ]);
    expect(r.spec.nodes[0]).toMatchObject({ split_size_or_sections: [2, 2], dim: 1 });
  });

  it("passes a Pad of nothing through (torch.onnx writes one before DenseNet's pools) and reports any other Pad", () => {
    const pads = (values: number[]): TensorInit => ({ name: 'pads', dims: [8], data: values, int64: true });
    const nothing = act(
      [
        { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'], attrs: { mode: 'constant' } },
        { op: 'AveragePool', inputs: ['p'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      ],
      [pads([0, 0, 0, 0, 0, 0, 0, 0])],
    );
    expect(nothing.unsupported).toBeUndefined();
    expect(nothing.spec.nodes.map((n) => [n.type, n.inputs])).toEqual([['AvgPool2d', ['input']]]);
    // Zero padding of H and W becomes the padding of the AveragePool (counted) or Conv that reads it.
    const hw = pads([0, 0, 1, 2, 0, 0, 1, 2]);
    const avg = act(
      [
        { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'] },
        { op: 'AveragePool', inputs: ['p'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [1, 1] } },
      ],
      [hw],
    );
    expect(avg.unsupported).toBeUndefined();
    expect(avg.spec.nodes).toMatchObject([{ type: 'AvgPool2d', inputs: ['input'], padding: [1, 2], count_include_pad: true }]);
    const conv = act(
      [
        { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'] },
        { op: 'Conv', inputs: ['p', 'w'], outputs: ['y'], attrs: { kernel_shape: [3, 3], pads: [1, 0, 1, 0] } },
      ],
      [hw, weight('w', [2, 4, 3, 3], 9)],
    );
    expect(conv.unsupported).toBeUndefined();
    expect(conv.spec.nodes).toMatchObject([{ type: 'Conv2d', inputs: ['input'], padding: [2, 2] }]);
    // Anywhere else, or padding that is not zeros on H and W, it is reported.
    const before = (op: string, attrs = {}) =>
      act(
        [
          { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'], name: 'pad1' },
          { op, inputs: ['p'], outputs: ['y'], name: 'next', attrs },
        ],
        [hw],
      ).unsupported?.message;
    expect(before('MaxPool', { kernel_shape: [2, 2] })).toBe(
      'node "next" (MaxPool, opset 13) is not supported: Pad constant [0, 0, 1, 2, 0, 0, 1, 2] is imported only right before a Conv or an AveragePool (it becomes their padding)',
    );
    expect(before('Relu')).toMatch(/is imported only right before a Conv or an AveragePool/);
    const reflect = act([{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'], name: 'pad1', attrs: { mode: 'reflect' } }], [hw]);
    expect(reflect.unsupported?.message).toBe(
      'node "pad1" (Pad, opset 13) is not supported: Pad reflect [0, 0, 1, 2, 0, 0, 1, 2] is not imported (zero padding of H and W is, before a Conv or an AveragePool)',
    );
    const channels = act([{ op: 'Pad', inputs: ['x', 'pads'], outputs: ['y'], name: 'pad1' }], [pads([0, 1, 0, 0, 0, 0, 0, 0])]);
    expect(channels.unsupported?.message).toMatch(/Pad constant \[0, 1, 0, 0, 0, 0, 0, 0\] is not imported/);
  });

  it('stops at an unsupported op with a message naming the node, the op type and the opset; the graph before it still imports', () => {
    const nodes = [
      ...smallClassifier().nodes.slice(0, 3),
      { op: 'LRN', inputs: ['r'], outputs: ['l'], name: 'norm1', attrs: { size: 3 } },
      ...smallClassifier()
        .nodes.slice(3)
        .map((n) => (n.op === 'GlobalAveragePool' ? { ...n, inputs: ['l'] } : n)),
    ];
    const r = importOnnx(writeOnnx(smallClassifier({ nodes, opset: 11 })));
    expect(r.unsupported).toMatchObject({ node: 'norm1', opType: 'LRN', opset: 11 });
    expect(r.unsupported!.message).toBe('node "norm1" (LRN, opset 11) is not supported: op LRN is not imported');
    expect(types(r)).toEqual(['Conv2d', 'BatchNorm2d', 'ReLU']);
    expect(r.spec.outputs).toEqual(['r']);
    const named = importOnnx(writeOnnx(smallClassifier({ nodes: [{ op: 'constructor', inputs: ['input'], outputs: ['prob'] }] })));
    expect(named.unsupported?.message).toBe('node "prob" (constructor, opset 13) is not supported: op constructor is not imported');
    const custom = importOnnx(writeOnnx(smallClassifier({ nodes: [{ op: 'Foo', domain: 'com.example', inputs: ['input'], outputs: ['prob'] }] })));
    expect(custom.unsupported?.message).toMatch(/node "prob" \(com\.example::Foo, opset 0\) is not supported: the op domain "com\.example"/);
    expect(custom.spec.outputs).toEqual(['input']);
  });
});

describe('importOnnx on random graphs', () => {
  const OPS = [
    'Conv',
    'ConvTranspose',
    'BatchNormalization',
    'Relu',
    'Clip',
    'HardSigmoid',
    'HardSwish',
    'Sigmoid',
    'Add',
    'Mul',
    'Sub',
    'Div',
    'GlobalAveragePool',
    'ReduceMean',
    'MaxPool',
    'AveragePool',
    'Resize',
    'Concat',
    'Split',
    'Slice',
    'Transpose',
    'Reshape',
    'Flatten',
    'Gemm',
    'MatMul',
    'Softmax',
    'Shape',
    'Gather',
    'Cast',
    'Unsqueeze',
    'Squeeze',
    'Constant',
    'Identity',
    'Range',
    'ConstantOfShape',
    'LRN',
  ];
  const ATTRS = [
    'kernel_shape',
    'pads',
    'strides',
    'dilations',
    'group',
    'axis',
    'axes',
    'perm',
    'split',
    'transB',
    'keepdims',
    'to',
    'epsilon',
    'alpha',
    'mode',
    'starts',
    'ends',
    'output_shape',
    'ceil_mode',
  ];
  const attrValue = fc.oneof(
    fc.integer({ min: -3, max: 6 }),
    fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 5 }),
    fc.constantFrom('nearest', 'linear', 'SAME_UPPER', 'asymmetric'),
    fc.record({ float: fc.float({ noNaN: true }) }),
  );
  const names = ['input', 'w', 'b', 'k', 'shape', 'v0', 'v1', 'v2', 'v3', 'v4', ''];
  const node = fc.record({
    op: fc.constantFrom(...OPS),
    inputs: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 4 }),
    outputs: fc.array(fc.constantFrom('v0', 'v1', 'v2', 'v3', 'v4'), { minLength: 1, maxLength: 2 }),
    attrs: fc.dictionary(fc.constantFrom(...ATTRS), attrValue, { maxKeys: 4 }),
  });

  it('returns a spec (maybe stopped at an unsupported node) or throws an OnnxError, never anything else', () => {
    const initializers: TensorInit[] = [
      weight('w', [4, 3, 3, 3], 1),
      weight('b', [4], 2),
      { name: 'k', dims: [], data: [3] },
      { name: 'shape', dims: [2], data: [1, -1], int64: true },
    ];
    fc.assert(
      fc.property(fc.array(node, { minLength: 1, maxLength: 8 }), fc.integer({ min: 7, max: 18 }), (nodes, opset) => {
        try {
          const r = importOnnx(
            writeOnnx({ opset, input: { name: 'input', shape: [1, 3, 'h', 8] }, outputs: [nodes[nodes.length - 1]!.outputs[0]!], nodes, initializers }),
          );
          expect(r.spec.nodes.length).toBeGreaterThanOrEqual(0);
        } catch (error) {
          if (!(error instanceof OnnxError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('external tensor data', () => {
  const setUp = (location: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'sepconv-onnx-'));
    const modelDir = join(dir, 'model');
    mkdirSync(modelDir);
    const w = weight('features.0.weight', [4, 3, 3, 3], 1);
    writeFileSync(join(modelDir, 'weights.bin'), Uint8Array.from([1, 2, 3, 4, ...rawBytes(w.data, false)]));
    writeFileSync(join(dir, 'outside.bin'), rawBytes(w.data, false));
    const initializers = smallClassifier().initializers!.map((t) =>
      t.name === w.name ? { ...t, external: { location, offset: location === 'weights.bin' ? 4 : 0, length: 432 } } : t,
    );
    const path = join(modelDir, 'model.onnx');
    writeFileSync(path, writeOnnx(smallClassifier({ initializers })));
    return { dir, modelDir, path, w };
  };

  it('reads initializers stored beside the model', () => {
    const { path, w } = setUp('weights.bin');
    const r = importOnnxFile(path);
    expect(Array.from(r.weights['features.0.weight']!.data)).toEqual(Array.from(Float32Array.from(w.data)));
    expect(() => importOnnx(readFileSync(path))).toThrow(/lies in the external file "weights\.bin", which was not provided/);
  });

  it('refuses locations that leave the model\'s folder: "..", absolute paths and links', () => {
    expect(() => importOnnxFile(setUp('../outside.bin').path)).toThrow(/external data "\.\.\/outside\.bin": "\.\." is refused/);
    const absolute = setUp('/etc/passwd');
    expect(() => importOnnxFile(absolute.path)).toThrow(/absolute paths are refused/);
    const link = setUp('link.bin');
    symlinkSync(join(link.dir, 'outside.bin'), join(link.modelDir, 'link.bin'));
    expect(() => importOnnxFile(link.path)).toThrow(/resolves outside the model's folder/);
    const missing = setUp('missing.bin');
    expect(() => importOnnxFile(missing.path)).toThrow(/external data "missing\.bin": cannot be read \(ENOENT\)/);
  });
});
