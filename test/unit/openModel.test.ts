import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_MODEL_BYTES, OpenModelError, openModelBytes } from '../../src/playground/openModel';
import { forward } from '../../src/engine/forward';
import { parseFromWebview } from '../../src/shared/protocol';
import { PADDLE_MODELS } from './onnxModelFiles';
import { seeded, writeOnnx } from './onnxWriter';

const cls = PADDLE_MODELS[0]!;
const clsBytes = readFileSync(cls.file);
const NAME = 'ch_ppocr_mobile_v2.0_cls_infer.onnx';

describe('openModelBytes (what "Open Model in Playground" gives the panel)', () => {
  it('gives the PaddleOCR classifier as a graph spec with its trained weights, and the spec runs on them', async () => {
    const opened = openModelBytes(clsBytes, NAME);
    expect(opened.unsupported).toBeUndefined();
    const spec = opened.spec as unknown as { nodes: { name: string; type: string }[]; input_shape: number[] };
    expect(spec.nodes.length).toBeGreaterThan(10);
    expect(spec.nodes.some((n) => n.type === 'Conv2d')).toBe(true);
    expect(spec.input_shape).toHaveLength(4);
    // Every convolution of the spec finds its weight in the map, and the map holds the file's parameters.
    expect(opened.params).toBeGreaterThan(100_000);
    const counted = Object.entries(opened.weights)
      .filter(([key]) => !key.endsWith('running_mean') && !key.endsWith('running_var'))
      .reduce((sum, [, t]) => sum + t.data.length, 0);
    expect(counted).toBeGreaterThanOrEqual(opened.params);
    // The page sends the spec back with a run; the host's message check accepts the graph form and the 'imported' weights.
    const message = {
      type: 'request',
      requestId: 1,
      method: 'run',
      body: { backend: 'cpu', model: { ...opened.spec, input_shape: cls.inputShape }, input: { shape: cls.inputShape, data: new ArrayBuffer(4 * cls.inputShape.reduce((a, b) => a * b, 1)) }, weights: { kind: 'imported' }, intermediates: true },
    };
    const parsed = parseFromWebview(message);
    expect(parsed.ok).toBe(true);
    // The classifier ends in a softmax over its two classes: with the trained weights the output is a distribution.
    const n = cls.inputShape.reduce((a, b) => a * b, 1);
    const input = { shape: cls.inputShape, data: new Float32Array(n).map((_, i) => Math.sin(i * 0.01)) };
    const result = await forward({ ...opened.spec, input_shape: cls.inputShape }, opened.weights, input, { backend: 'cpu', intermediates: true });
    expect(result.output.shape).toEqual([1, 2]);
    expect(result.output.data[0]! + result.output.data[1]!).toBeCloseTo(1, 5);
    expect((result.intermediates ?? []).length).toBeGreaterThan(5);
  });

  it('refuses a truncated file with a message naming it', () => {
    const truncated = clsBytes.subarray(0, Math.floor(clsBytes.length / 3));
    expect(() => openModelBytes(truncated, NAME)).toThrow(OpenModelError);
    expect(() => openModelBytes(truncated, NAME)).toThrow(new RegExp(`^${NAME.replace(/\./g, '\\.')}: `));
  });

  it('refuses bytes that are not a model, an empty file and another extension', () => {
    const junk = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff);
    expect(() => openModelBytes(junk, 'junk.onnx')).toThrow(/^junk\.onnx: /);
    expect(() => openModelBytes(new Uint8Array(0), 'empty.onnx')).toThrow(/empty\.onnx: the file is empty/);
    expect(() => openModelBytes(clsBytes, 'model.h5')).toThrow(/model\.h5: only \.onnx, \.pt and \.pth files open in the playground/);
    expect(() => openModelBytes(clsBytes, 'model.pt')).toThrow(/model\.pt: not a PyTorch checkpoint: a \.pt\/\.pth file is a zip archive/);
    expect(MAX_MODEL_BYTES).toBeGreaterThan(clsBytes.length);
  });
  it('opens the graph before an unsupported op, and says which node, op type and opset stopped it', async () => {
    const bytes = writeOnnx({
      input: { name: 'input', shape: [1, 3, 8, 8] },
      outputs: ['l'],
      opset: 13,
      initializers: [
        { name: 'stem.weight', dims: [4, 3, 3, 3], data: seeded(108, 1) },
        { name: 'stem.bias', dims: [4], data: seeded(4, 2) },
      ],
      nodes: [
        { op: 'Conv', inputs: ['input', 'stem.weight', 'stem.bias'], outputs: ['c'], name: 'stem', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'LRN', inputs: ['r'], outputs: ['l'], name: 'norm1', attrs: { size: 3 } },
      ],
    });
    const opened = openModelBytes(bytes, 'partial.onnx');
    expect(opened.unsupported).toMatchObject({ node: 'norm1', opType: 'LRN', opset: 13 });
    expect(opened.unsupported!.message).toContain('"norm1" (LRN, opset 13)');
    const spec = opened.spec as unknown as { nodes: { type: string }[] };
    expect(spec.nodes.map((n) => n.type)).toEqual(['Conv2d', 'ReLU']);
    const input = { shape: [1, 3, 8, 8], data: new Float32Array(192).map((_, i) => Math.cos(i)) };
    const result = await forward(opened.spec, opened.weights, input, { backend: 'cpu' });
    expect(result.output.shape).toEqual([1, 4, 8, 8]);
    expect(result.output.data.every((v) => v >= 0)).toBe(true);
  });
});