/**
 * The WebGPU backend on this machine's adapter (SwiftShader in CI, via VK_ICD_FILENAMES): the
 * PyTorch fixtures within 1e-4, property tests against the reference kernels, fusion, and the
 * failure paths (a WGSL error, an aborted run, a lost device). A missing adapter fails the suite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resolveModel, type ModelSpec, type PaddingMode, type ResolvedModel } from '../../src/shared/spec';
import type { Tensor } from '../../src/shared/tensor';
import { getHostDevice, probeReadback, resetHostDevice } from '../../src/engine/gpuDevice';
import { conv2dReference, referenceForward } from '../../src/engine/cpu/reference';
import { initWeights } from '../../src/engine/weights';
import { forwardWebGPU, WebGPUModel, ShaderCompileError } from '../../src/engine/webgpu/index';
import { getPipeline } from '../../src/engine/webgpu/pipelineCache';
import { loadFixtures } from './fixtureLoader';

let device: GPUDevice;

beforeAll(async () => {
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  const result = await getHostDevice();
  if (!result.ok) throw new Error(`no WebGPU device, so the WebGPU suite cannot run: ${result.reason}`);
  device = result.device;
});

afterAll(async () => {
  await resetHostDevice();
});

/** |a - b| <= atol + rtol * |b| everywhere; the message names the worst element. */
function expectClose(actual: Tensor, expected: Tensor, what: string, tolerance = 1e-4): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const b = expected.data[i]!;
    const excess = Math.abs(a - b) - (tolerance + tolerance * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) expect.fail(`${what}: element ${worst} is ${actual.data[worst]}, expected ${expected.data[worst]}`);
}

function seededInput(shape: number[], seed: number): Tensor {
  let state = seed >>> 0 || 1;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return { shape, data };
}

describe('webgpu: PyTorch fixtures', () => {
  const fixtures = loadFixtures();
  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    const model = resolveModel(fixture.model, { inputShape: fixture.input.shape });
    const fused = await forwardWebGPU(model, fixture.weights, fixture.input, { device });
    expectClose(fused.output, fixture.output, `${fixture.name} output`);
    if (fixture.intermediates) {
      // Asking for layer outputs ends fusion there: each comes back as the layer itself computed it.
      const keys = model.layers.map((layer) => String(layer.index));
      const run = await forwardWebGPU(model, fixture.weights, fixture.input, { device, intermediates: keys });
      keys.forEach((key, i) => expectClose(run.intermediates![key]!, fixture.intermediates![i]!, `${fixture.name} layer ${key}`));
      expectClose(run.output, fixture.output, `${fixture.name} output (unfused)`);
    }
  });
});
