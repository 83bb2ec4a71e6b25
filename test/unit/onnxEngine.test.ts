/**
 * Imported ONNX models run by the engine on both backends:
 * - PaddleOCR's trained models against onnxruntime-node, at the output and at every engine step
 *   whose output is an ONNX tensor (conv, activation, pool, resize, concat, ...);
 * - torchvision exports through `sepconv forward --model X.onnx` against PyTorch's output.
 * WebGPU runs on this machine's adapter (SwiftShader without a GPU); a missing adapter fails.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { getHostDevice } from '../../src/engine/gpuDevice';
import { forward } from '../../src/engine/forward';
import type { EngineBackend } from '../../src/shared/protocol';
import { readNpy } from '../../src/io/npy';
import { importOnnx } from '../../src/io/onnxImport';
import { allcloseViolation } from './engineAllclose';
import { PADDLE_MODELS, TORCHVISION_MODELS, torchvisionExports } from './onnxModelFiles';
import { runOnnxRuntime } from './onnxRuntimeCompare';

/** A smooth, image-like input in [-2, 2] (ImageNet-normalised pixels span about that). */
function imageLike(shape: number[]): { shape: number[]; data: Float32Array } {
  const [, c, h, w] = shape as [number, number, number, number];
  const data = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        data[(k * h + y) * w + x] = 1.5 * Math.sin(0.21 * x + 0.13 * y * (k + 1)) * Math.cos(0.05 * (x - y)) + 0.3 * Math.sin(7.1 * x + 3.3 * y);
      }
  return { shape, data };
}

const BACKENDS: EngineBackend[] = ['cpu', 'webgpu'];

describe.each(BACKENDS)('ONNX models on %s', (backend) => {
  let device: GPUDevice | undefined;
  beforeAll(async () => {
    if (backend !== 'webgpu') return;
    process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
    const host = await getHostDevice();
    if (!host.ok) throw new Error(`no WebGPU device, so the WebGPU runs cannot be checked: ${host.reason}`);
    device = host.device;
  });

  it.each(PADDLE_MODELS)(
    'PaddleOCR $name: the output within 1e-4 (abs + rel) of onnxruntime, every intermediate too (plus float32 noise of its scale)',
    async ({ file, inputShape }) => {
      const bytes = readFileSync(file);
      const imported = importOnnx(bytes, { inputShape });
      expect(imported.unsupported).toBeUndefined();
      const input = imageLike(inputShape);
      const result = await forward(imported.spec, imported.weights, input, { backend, device, intermediates: true });
      // Each engine step's output is the ONNX tensor its last node wrote.
      const onnxNameOf = new Map<string, string>();
      for (const [onnxName, id] of imported.valueIds) if (!onnxNameOf.has(id)) onnxNameOf.set(id, onnxName);
      const steps = (result.intermediates ?? []).filter((step) => onnxNameOf.has(step.key));
      const reference = await runOnnxRuntime(
        bytes,
        input,
        steps.map((step) => onnxNameOf.get(step.key)!),
      );
      const failures: string[] = [];
      for (const step of steps) {
        const expected = reference.get(onnxNameOf.get(step.key)!)!;
        // 1e-4 abs + 1e-4 rel, plus float32 summation noise of the tensor's scale: the detector's FPN
        // holds values up to ~1300, where two float32 sums in different orders differ by ~1e-3
        // (about 1e-6 of the scale) on elements near zero.
        const scale = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const violation = allcloseViolation(step.tensor, expected, 1e-4 + 4e-6 * scale, 1e-4);
        if (violation) failures.push(`${step.key} (${step.label}, largest magnitude ${scale.toFixed(1)}): ${violation}`);
      }
      expect(failures).toEqual([]);
      const convs = imported.spec.nodes.filter((n) => n.type === 'Conv2d' || n.type === 'ConvTranspose2d').length;
      // Fusion folds some convs into one step with their BN and activation; still, most convs end a compared step.
      expect(steps.length).toBeGreaterThan(convs / 2);
      expect(allcloseViolation(result.output, reference.get(imported.outputNames[0]!)!, 1e-4, 1e-4)).toBeUndefined();
    },
    600_000,
  );

  /**
   * Absolute tolerances other than 1e-4: Inception v3's float32 sums (a 2048-wide classifier on
   * logits up to 40) round differently in any two implementations: onnxruntime-node's output of
   * the same file differs from PyTorch's by up to 1.0e-3.
   */
  const FORWARD_ATOL: Record<string, number> = { inception_v3: 3e-3 };

  describe('torchvision exports', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await torchvisionExports();
    }, 600_000);

    it.each(TORCHVISION_MODELS)(
      '%s: sepconv forward --model X.onnx within 1e-4 (Inception v3: 3e-3) + 1e-3 |y| of PyTorch',
      async (name) => {
        const output = join(mkdtempSync(join(tmpdir(), 'sepconv-onnx-')), 'y.npy');
        const err: string[] = [];
        const code = await main(
          ['forward', '--model', join(dir, `${name}.onnx`), '--input', join(dir, `${name}.input.npy`), '--output', output, '--backend', backend],
          () => {},
          (s) => err.push(s),
        );
        // Import warnings may go to err; the run itself must succeed.
        expect(code, err.join('\n')).toBe(0);
        const atol = FORWARD_ATOL[name] ?? 1e-4;
        expect(allcloseViolation(readNpy(readFileSync(output)), readNpy(readFileSync(join(dir, `${name}.output.npy`))), atol, 1e-3)).toBeUndefined();
      },
      600_000,
    );
  });
});
