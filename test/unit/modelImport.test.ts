/**
 * "Open Model in Playground" past the reader: the import in its own worker thread, PyTorch
 * state_dicts recognised by key, and the cost table's params of an imported model against a count
 * made from the file alone.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { readNpy } from '../../src/io/npy';
import { importModelInWorker } from '../../src/playground/modelImport';
import { OpenModelError, openModelBytes } from '../../src/playground/openModel';
import { costModel, withCountedParams } from '../../src/shared/cost';
import { resolveModel } from '../../src/shared/spec';
import fc from 'fast-check';
import { applyByteEdits, byteEdits } from './byteEdits';
import { allcloseViolation } from './engineAllclose';
import { FIXTURE_DIR } from './fixtureLoader';
import { countParameters } from './onnxParameterCount';
import { PADDLE_MODELS, TORCHVISION_MODELS, torchvisionCheckpoints, torchvisionExports } from './onnxModelFiles';

let workerPath: string;

beforeAll(async () => {
  workerPath = join(mkdtempSync(join(tmpdir(), 'sepconv-import-')), 'modelImportWorker.js');
  // The same bundle options as esbuild.mjs's `importWorker` bundle.
  await esbuild.build({ entryPoints: ['src/playground/modelImportWorker.ts'], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: workerPath, logLevel: 'error' });
});

/** The cost table's total params of an opened model, as the page computes them. */
function tableParams(opened: ReturnType<typeof openModelBytes>, inputShape?: number[]): number {
  const model = resolveModel(inputShape ? { ...opened.spec, input_shape: inputShape } : opened.spec);
  return withCountedParams(costModel(model), opened.countedParams).total.params;
}

describe('importModelInWorker', () => {
  it('imports the PaddleOCR detector in a worker while the calling thread keeps running, and gives weights the engine runs on', async () => {
    const det = PADDLE_MODELS[1]!;
    const bytes = new Uint8Array(readFileSync(det.file));
    const size = bytes.byteLength;
    let ticks = 0;
    let longestGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      ticks++;
    }, 1);
    const started = performance.now();
    const opened = await importModelInWorker(bytes, 'det.onnx', undefined, { workerPath });
    const tookMs = performance.now() - started;
    clearInterval(timer);
    // The file's bytes went to the worker (transferred, not copied): the caller's array is detached.
    expect(bytes.byteLength).toBe(0);
    expect(size).toBeGreaterThan(4_000_000);
    // This thread ran its timer all along: never one gap as long as the whole import.
    expect(ticks).toBeGreaterThan(3);
    expect(longestGapMs).toBeLessThan(tookMs);
    expect(opened.unsupported).toBeUndefined();
    expect(opened.params).toBe(countParameters(readFileSync(det.file)));
    const n = det.inputShape.reduce((a, b) => a * b, 1);
    const input = { shape: det.inputShape, data: new Float32Array(n).map((_, i) => Math.sin(i * 0.01)) };
    const result = await forward({ ...opened.spec, input_shape: det.inputShape }, opened.weights, input, { backend: 'cpu' });
    expect(result.output.shape).toEqual([1, 1, det.inputShape[2], det.inputShape[3]]);
  }, 120_000);

  it('answers a malformed file with an OpenModelError naming it, from the worker', async () => {
    const whole = readFileSync(PADDLE_MODELS[0]!.file);
    const truncated = whole.subarray(0, Math.floor(whole.length / 3));
    await expect(importModelInWorker(truncated, 'cut.onnx', undefined, { workerPath })).rejects.toThrow(OpenModelError);
    await expect(importModelInWorker(truncated, 'cut.onnx', undefined, { workerPath })).rejects.toThrow(/^cut\.onnx: /);
    await expect(importModelInWorker(readFileSync(join(FIXTURE_DIR, 'checkpoints', 'os_system.pt')), 'evil.pt', undefined, { workerPath })).rejects.toThrow(/^evil\.pt: checkpoint refused: .*posix\.system, which is not allowed/);
  }, 60_000);

  it('says so when the worker dies (out of memory) or takes too long', async () => {
    const bytes = readFileSync(PADDLE_MODELS[1]!.file);
    await expect(importModelInWorker(bytes, 'det.onnx', undefined, { workerPath, heapMb: 1 })).rejects.toThrow(/^det\.onnx: the import stopped/);
    await expect(importModelInWorker(bytes, 'det.onnx', undefined, { workerPath, timeoutMs: 1 })).rejects.toThrow(/^det\.onnx: the import took over 0\.001 s and was stopped/);
  }, 60_000);
});

describe('a PyTorch state_dict opens when its keys and shapes are those of a recognised structure', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await torchvisionCheckpoints();
  }, 600_000);

  it('mobilenet_v2: recognised by key, and its output equals PyTorch\'s within 1e-4', async () => {
    const opened = openModelBytes(readFileSync(join(dir, 'mobilenet_v2.pt')), 'mobilenet_v2.pt');
    expect(opened.warnings).toEqual(['recognised as torchvision mobilenet_v2 (1000 classes) by its keys and shapes']);
    expect(opened.params).toBe(3_504_872);
    expect(tableParams(opened)).toBe(opened.params);
    const input = readNpy(readFileSync(join(dir, 'mobilenet_v2.input.npy')));
    const result = await forward({ ...opened.spec, input_shape: input.shape }, opened.weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v2.output.npy'))))).toBeUndefined();
  }, 120_000);

  it('mobilenet_v3_small and mobilenet_v3_large: recognised, every tensor used; small\'s output equals PyTorch\'s', async () => {
    const small = openModelBytes(readFileSync(join(dir, 'mobilenet_v3_small.pt')), 'small.pth');
    expect(small.warnings[0]).toMatch(/torchvision mobilenet_v3_small/);
    const input = readNpy(readFileSync(join(dir, 'mobilenet_v3_small.input.npy')));
    const result = await forward({ ...small.spec, input_shape: input.shape }, small.weights, input);
    expect(allcloseViolation(result.output, readNpy(readFileSync(join(dir, 'mobilenet_v3_small.output.npy'))))).toBeUndefined();
    const large = openModelBytes(readFileSync(join(dir, 'mobilenet_v3_large.pt')), 'large.pt');
    expect(large.warnings[0]).toMatch(/torchvision mobilenet_v3_large \(1000 classes\)/);
    const keys = JSON.parse(readFileSync(join(dir, 'mobilenet_v3_large.keys.json'), 'utf8')) as Array<[string, number[]]>;
    expect(Object.keys(large.weights).sort()).toEqual(keys.map(([k]) => k).filter((k) => !k.endsWith('num_batches_tracked')).sort());
  }, 120_000);

  it('refuses another network, naming the structures it knows and the keys and shapes that differ', () => {
    expect(() => openModelBytes(readFileSync(join(FIXTURE_DIR, 'checkpoints', 'tiny.pt')), 'tiny.pt')).toThrow(
      /^tiny\.pt: the state_dict \(7 tensors: 0\.weight \[4, 3, 3, 3\], 1\.weight \[4\], 1\.bias \[4\], \.\.\.\) matches none of the structures recognised by key \(torchvision mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, width 1\.0\)$/,
    );
    expect(() => openModelBytes(readFileSync(join(FIXTURE_DIR, 'checkpoints', 'legacy.pt')), 'old.pth')).toThrow(/^old\.pth: a legacy \(before PyTorch 1\.6\) torch\.save file/);
  });

  it('gives an OpenModelError or a model, never another error, for a corrupted or truncated torchvision checkpoint', () => {
    const original = new Uint8Array(readFileSync(join(dir, 'mobilenet_v3_small.pt')));
    // The zip's central directory and the pickle are at the end and the start; edits land anywhere.
    fc.assert(
      fc.property(byteEdits, fc.option(fc.nat({ max: original.length }), { nil: undefined }), (edits, end) => {
        const bytes = applyByteEdits(original, edits, original.length).subarray(0, end ?? original.length);
        try {
          openModelBytes(bytes, 'small.pt');
        } catch (error) {
          if (!(error instanceof OpenModelError)) throw error;
          expect(error.message).toMatch(/^small\.pt: /);
        }
      }),
      { numRuns: 60 },
    );
  }, 300_000);

  it('names the keys and shapes of the closest structure when a few differ (a mobilenet_v2 with another stem)', async () => {
    const { readCheckpoint } = await import('../../src/io/torchCheckpoint');
    const { recogniseCheckpoint } = await import('../../src/io/checkpointModels');
    const checkpoint = readCheckpoint(readFileSync(join(dir, 'mobilenet_v2.pt')));
    checkpoint.tensors.set('features.0.0.weight', { shape: [32, 1, 3, 3], data: new Float32Array(288) });
    checkpoint.tensors.delete('features.18.1.running_var');
    checkpoint.tensors.set('extra.weight', { shape: [2], data: new Float32Array(2) });
    expect(() => recogniseCheckpoint(checkpoint)).toThrow(
      /closest is mobilenet_v2 \(\d+ keys shared\): missing from the checkpoint: features\.18\.1\.running_var; not in the model: extra\.weight; shapes differ: features\.0\.0\.weight: checkpoint \[32, 1, 3, 3\], model \[32, 3, 3, 3\]$/,
    );
  });
});

describe('the cost table of an imported model counts the file\'s parameters', () => {
  it.each(PADDLE_MODELS)('PaddleOCR $name: params in the table = an independent count from the file', ({ file, inputShape }) => {
    const bytes = readFileSync(file);
    const opened = openModelBytes(bytes, 'model.onnx');
    // Without the counted params, per-channel Mul and Add nodes (BatchNorm2d in the spec) count scale and shift.
    expect(withCountedParams(costModel(resolveModel({ ...opened.spec, input_shape: inputShape })), undefined).total.params).toBeGreaterThan(countParameters(bytes));
    expect(tableParams(opened, inputShape)).toBe(countParameters(bytes));
  });

  it.each(TORCHVISION_MODELS)('torchvision %s export: params in the table = sum(p.numel()) in PyTorch', async (name) => {
    const dir = await torchvisionExports();
    const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { params: number };
    const opened = openModelBytes(readFileSync(join(dir, `${name}.onnx`)), `${name}.onnx`);
    expect(tableParams(opened)).toBe(meta.params);
  }, 600_000);
});
