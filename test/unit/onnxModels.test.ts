import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OnnxError, readOnnxModel } from '../../src/io/onnx';
import { importOnnx } from '../../src/io/onnxImport';
import { applyByteEdits, byteEdits } from './byteEdits';
import { countParameters } from './onnxParameterCount';
import { PADDLE_MODELS, TORCHVISION_MODELS, torchvisionExports } from './onnxModelFiles';
import { runCli } from './cliCapture';

describe.each(PADDLE_MODELS)('PaddleOCR $name', ({ file, inputShape }) => {
  const bytes = readFileSync(file);

  it('imports completely, at the output shape onnxruntime gives, with the file\'s parameters', async () => {
    const imported = importOnnx(bytes, { inputShape });
    expect(imported.unsupported).toBeUndefined();
    const session = await ort.InferenceSession.create(file);
    const input = new Float32Array(inputShape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, inputShape) });
    const reference = result[session.outputNames[0]!]!;
    const last = imported.nodes.find((n) => n.name === imported.spec.outputs[0])!;
    expect(last.outputShapes[0]).toEqual(reference.dims.map(Number));
    expect(imported.params).toBe(countParameters(bytes));
    expect(imported.params).toBeGreaterThan(100_000);
    // Every conv of the file became a conv node.
    const convs = readOnnxModel(bytes).graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose').length;
    expect(imported.spec.nodes.filter((n) => n.type === 'Conv2d' || n.type === 'ConvTranspose2d')).toHaveLength(convs);
  });
});

describe('a corrupted PaddleOCR model', () => {
  it('is imported or refused with an OnnxError, never a crash, after truncation or byte edits anywhere', () => {
    const original = new Uint8Array(readFileSync(PADDLE_MODELS[0]!.file));
    fc.assert(
      fc.property(byteEdits, fc.option(fc.nat({ max: original.length }), { nil: undefined }), (edits, end) => {
        const bytes = applyByteEdits(original, edits, original.length).subarray(0, end ?? original.length);
        try {
          importOnnx(bytes, { inputShape: PADDLE_MODELS[0]!.inputShape });
        } catch (error) {
          if (!(error instanceof OnnxError)) throw error;
        }
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('torchvision exports (torch.onnx, opsets 11-17)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await torchvisionExports();
  }, 600_000);

  it.each(TORCHVISION_MODELS)('%s: sepconv cost --model X.onnx --json totals its parameters exactly as sum(p.numel())', async (name) => {
    const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { params: number; input_shape: number[] };
    const { code, out, err } = await runCli(['cost', '--model', join(dir, `${name}.onnx`), '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(out) as { total: { params: number; macs: number }; input_shape: number[]; unsupported?: unknown };
    expect(json.unsupported).toBeUndefined();
    expect(json.input_shape).toEqual(meta.input_shape);
    expect(json.total.params).toBe(meta.params);
  });

  it('sepconv cost --model X.onnx prints a table, refuses --convention, and names an unreadable file', async () => {
    const table = await runCli(['cost', '--model', join(dir, 'mobilenet_v2.onnx')]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^features\.0\.0 +Conv2d +1x32x80x80 +864 +5,529,600$/m);
    expect(table.out).toMatch(/params 3\.50M \(3,504,872\), MACs 154\.08M/);
    const convention = await runCli(['cost', '--model', join(dir, 'mobilenet_v2.onnx'), '--convention', 'fvcore']);
    expect([convention.code, convention.err]).toEqual([1, expect.stringMatching(/--convention and --dtype do not apply to an \.onnx model/)]);
    const missing = await runCli(['cost', '--model', join(dir, 'missing.onnx')]);
    expect([missing.code, missing.err]).toEqual([1, expect.stringMatching(/^sepconv: --model .*missing\.onnx: no such file$/)]);
  });

  it('imports the default export of mobilenet_v2, whose BatchNorms torch.onnx folded into the convs', () => {
    const imported = importOnnx(readFileSync(join(dir, 'mobilenet_v2.folded.onnx')));
    expect(imported.unsupported).toBeUndefined();
    expect(imported.spec.nodes.some((n) => n.type === 'BatchNorm2d')).toBe(false);
    expect(imported.spec.nodes.filter((n) => n.type === 'Conv2d').every((n) => n.bias === true)).toBe(true);
  });
});
