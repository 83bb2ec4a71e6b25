/**
 * The CPU backend: builds the plan and runs it step by step, with timings, intermediates,
 * progress and cancellation between steps. Model, weights and input must have been validated
 * (forward.ts does it).
 */
import type { ResolvedModel } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import { CancelledError } from '../errors';
import type { ForwardOptions, ForwardResult, Intermediate, StepTiming, WeightMap } from '../types';
import { installedCpuKernels, type CpuKernels } from './kernels/cpuKernels';
import { jsKernels } from './kernels/jsKernels';
import { loadWasmKernels } from './wasm/wasmKernels';
import { buildPlan } from './plan';

export interface CpuForwardOptions extends ForwardOptions {
  /** Kernels to use instead of the installed ones (tests compare implementations this way). */
  kernels?: CpuKernels;
}

export async function forwardCpu(model: ResolvedModel, weights: WeightMap, input: Tensor, options: CpuForwardOptions = {}): Promise<ForwardResult> {
  // WebAssembly SIMD where the runtime has it and the bundle embeds the kernels, plain JS otherwise.
  const kernels = options.kernels ?? installedCpuKernels() ?? (await loadWasmKernels()) ?? jsKernels;
  const steps = buildPlan(model, weights, { fuse: options.fuse ?? true });
  kernels.beginRun?.();
  const timings: StepTiming[] = [];
  const intermediates: Intermediate[] | undefined = options.intermediates ? [] : undefined;
  let x = input;
  for (let i = 0; i < steps.length; i++) {
    if (options.signal?.aborted) throw new CancelledError();
    const step = steps[i]!;
    for (const slot of step.saveInputTo) slot.tensor = x;
    const start = performance.now();
    x = step.run(x, kernels);
    timings.push({ key: step.key, label: step.label, ms: performance.now() - start });
    for (const slot of step.release) slot.tensor = undefined;
    intermediates?.push({ key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, tensor: x });
    options.onProgress?.(i + 1, steps.length);
  }
  return { output: x, intermediates, timings, backend: `cpu (${kernels.name})` };
}
