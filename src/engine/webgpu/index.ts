/**
 * The WebGPU backend: the same forward pass as the CPU engine, on a GPUDevice the caller hands
 * over (from `navigator.gpu` in a browser, from src/engine/gpuDevice.ts in Node). It never asks
 * where the device came from.
 */
import type { ResolvedModel } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import type { Intermediate, StepTiming } from '../types';
import { WebGPUModel, WebGPURunError, type StageTiming } from './webgpuModel';

export { WebGPUModel, WebGPURunError, type DepthwiseStrategy, type GemmStrategy, type StageTiming, type WebGPURunResult } from './webgpuModel';
export { ShaderCompileError, pipelineCount } from './pipelineCache';
export { bufferPoolFor } from './bufferPool';

export interface WebGPUForwardOptions {
  device?: GPUDevice;
  /** Every step's outputs, in execution order (as the CPU backend reports them). Default false. */
  intermediates?: boolean;
  /** false: no fusion, every module its own step. Default true. */
  fuse?: boolean;
  signal?: AbortSignal;
  /** Milliseconds to wait for the GPU. Default 120 s. */
  timeoutMs?: number;
}

export interface WebGPUForwardResult {
  output: Tensor;
  /** Every model output, when the model has more than one. */
  outputs?: Tensor[];
  intermediates?: Intermediate[];
  timings: { totalMs: number; stages: StageTiming[]; steps: StepTiming[]; timestamps: boolean };
  backend: 'webgpu';
}

/** One forward pass: compiles (pipelines are cached per device), runs, frees. */
export async function forwardWebGPU(
  model: ResolvedModel,
  weights: Record<string, Tensor>,
  input: Tensor,
  options: WebGPUForwardOptions = {},
): Promise<WebGPUForwardResult> {
  const device = options.device;
  if (!device) throw new WebGPURunError('the webgpu backend needs options.device (in Node, forward() and prepare() make one themselves)');
  options.signal?.throwIfAborted();
  const compiled = await WebGPUModel.create(device, model, weights, { fuse: options.fuse });
  try {
    const result = await compiled.run(input, { signal: options.signal, timeoutMs: options.timeoutMs, intermediates: options.intermediates });
    return {
      output: result.output,
      ...(result.outputs.length > 1 ? { outputs: result.outputs } : {}),
      ...(result.intermediates ? { intermediates: result.intermediates } : {}),
      timings: result.timings,
      backend: 'webgpu',
    };
  } finally {
    compiled.dispose();
  }
}
