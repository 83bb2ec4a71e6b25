/**
 * The WebGPU backend: the same forward pass as the CPU engine, on a GPUDevice the caller hands
 * over (from `navigator.gpu` in a browser, from src/engine/gpuDevice.ts in Node). It never asks
 * where the device came from.
 */
import type { ResolvedModel } from '../../shared/spec';
import type { Tensor } from './plan';
import { WebGPUModel, WebGPURunError, type StageTiming } from './webgpuModel';

export { WebGPUModel, WebGPURunError, type DepthwiseStrategy, type GemmStrategy, type StageTiming, type WebGPURunResult } from './webgpuModel';
export { ShaderCompileError, pipelineCount } from './pipelineCache';
export { bufferPoolFor } from './bufferPool';

export interface WebGPUForwardOptions {
  device?: GPUDevice;
  /**
   * true: every leaf's and residual sum's output, unfused, in execution order; a list: those
   * modules' outputs (state_dict prefixes like "3.conv.1.0", or "3" for top-level layer 3).
   */
  intermediates?: boolean | readonly string[];
  /** Module keys after which a fused dispatch must end (see CompileOptions.stepEnds). */
  stepEnds?: readonly string[];
  /** false: no fusion, every leaf its own step. Default true. */
  fuse?: boolean;
  signal?: AbortSignal;
  /** Milliseconds to wait for the GPU. Default 120 s. */
  timeoutMs?: number;
}

export interface WebGPUForwardResult {
  output: Tensor;
  intermediates?: Record<string, Tensor>;
  /** The keys of `intermediates` in execution order. */
  intermediateOrder?: string[];
  timings: { totalMs: number; stages: StageTiming[]; timestamps: boolean };
  backend: 'webgpu';
}

/** One forward pass: compiles (pipelines are cached per device), runs, frees. */
export async function forwardWebGPU(model: ResolvedModel, weights: Record<string, Tensor>, input: Tensor, options: WebGPUForwardOptions = {}): Promise<WebGPUForwardResult> {
  const device = options.device;
  if (!device) throw new WebGPURunError('the webgpu backend needs options.device (in Node, getHostDevice() from the engine\'s gpuDevice module gives one)');
  options.signal?.throwIfAborted();
  const wanted = options.intermediates === true ? 'all' : options.intermediates || [];
  const compiled = await WebGPUModel.create(device, model, weights, { intermediates: wanted, stepEnds: options.stepEnds, fuse: options.fuse });
  try {
    const result = await compiled.run(input, { signal: options.signal, timeoutMs: options.timeoutMs });
    return {
      output: result.output,
      ...(wanted === 'all' || wanted.length > 0 ? { intermediates: result.intermediates, intermediateOrder: result.intermediateOrder } : {}),
      timings: result.timings,
      backend: 'webgpu',
    };
  } finally {
    compiled.dispose();
  }
}
