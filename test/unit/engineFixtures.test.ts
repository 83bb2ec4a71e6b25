/**
 * The engine against PyTorch: every fixture of test/fixtures within 1e-4 (absolute and relative),
 * per backend. Another backend joins by adding its name to `backends` (and a device to `optionsFor`).
 */
import { describe, expect, it } from 'vitest';
import { forwardCpu } from '../../src/engine/cpu/cpuBackend';
import type { CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { jsKernels } from '../../src/engine/cpu/kernels/jsKernels';
import { forward, resolveForInput } from '../../src/engine/forward';
import type { ForwardOptions } from '../../src/engine/types';
import type { EngineBackend } from '../../src/shared/protocol';
import { resolveModel } from '../../src/shared/spec';
import { allcloseViolation } from './engineAllclose';
import { loadFixtures } from './fixtureLoader';

const fixtures = loadFixtures();
const backends: EngineBackend[] = ['cpu'];
/** Add another CpuKernels implementation (WebAssembly SIMD) here to check it against PyTorch too. */
const cpuKernelImplementations: CpuKernels[] = [jsKernels];
const optionsFor = async (backend: EngineBackend): Promise<ForwardOptions> => ({ backend });

describe.each(backends)('PyTorch fixtures on %s', (backend) => {
  it('has fixtures to check', () => {
    expect(fixtures.length).toBeGreaterThan(50);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    const options = await optionsFor(backend);
    const fused = await forward(fixture.model, fixture.weights, fixture.input, { ...options, intermediates: true });
    expect(allcloseViolation(fused.output, fixture.output)).toBeUndefined();
    // Unfused, every leaf on its own: the same numbers.
    const unfused = await forward(fixture.model, fixture.weights, fixture.input, { ...options, fuse: false, intermediates: true });
    expect(allcloseViolation(unfused.output, fixture.output)).toBeUndefined();
    if (fixture.intermediates) {
      // The last step of each top-level layer is that layer's output.
      const resolved = resolveModel(fixture.model, { inputShape: fixture.input.shape });
      resolved.layers.forEach((layer, i) => {
        const steps = unfused.intermediates!.filter((step) => step.layerIndex === layer.index);
        expect(steps.length, `layer ${i} has steps`).toBeGreaterThan(0);
        expect(allcloseViolation(steps[steps.length - 1]!.tensor, fixture.intermediates![i]!), `layer ${i}`).toBeUndefined();
      });
    }
  });
});

/** Each CpuKernels implementation on its own (the backend above uses whichever is installed). */
describe.each(cpuKernelImplementations.map((k) => [k.name, k] as const))('PyTorch fixtures with the %s CPU kernels', (_name, kernels) => {
  it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_fixtureName, fixture) => {
    const model = resolveForInput(fixture.model, fixture.input);
    for (const fuse of [true, false]) {
      const result = await forwardCpu(model, fixture.weights, fixture.input, { kernels, fuse });
      expect(allcloseViolation(result.output, fixture.output), `fuse ${fuse}`).toBeUndefined();
    }
  });
});
