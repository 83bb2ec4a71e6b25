/**
 * `prepare()`: a model made ready to run many times, as an onnxruntime session is. The work
 * that does not depend on the input happens once here instead of on every `forward()`: the
 * weights are checked (shapes, NaN/Inf), BatchNorm is folded into the conv weights, the GEMM
 * weights are packed into the kernels' memory (on WebGPU: uploaded, and resident on the device),
 * and the activation buffers are laid out; each `run()` then only checks its input and computes. Imports neither `vscode`, the DOM nor node
 * modules.
 */
import { resolveModel, type ModelSpec, type ResolvedModel } from '../shared/spec';
import { elementCount, type Tensor } from '../shared/tensor';
import { CpuPreparedModel, kernelsForPreparedModel, type CpuRunOptions } from './cpu/cpuBackend';
import type { CpuKernels } from './cpu/kernels/cpuKernels';
import type { WebGPUModel } from './webgpu/webgpuModel';
import { defaultDevice, isResolved, loadWebGPUBackend, resolveForInput, specOf } from './forward';
import type { ForwardResult, WeightMap } from './types';
import type { EngineBackend } from '../shared/protocol';
import { validateWeights } from './weights';
import { disposeWasmKernels } from './cpu/wasm/wasmKernels';

export interface PrepareOptions {
  /**
   * The input shape [N, C, H, W] to prepare for (default: the model's `input_shape`, or
   * [1, C, 224, 224]). `run()` takes other shapes too; each new one costs a plan (and its buffers).
   */
  inputShape?: number[];
  /** Fuse conv + BatchNorm + activation + residual add into one step (default true; see ForwardOptions.fuse). */
  fuse?: boolean;
  /** "cpu" (the default) or "webgpu" (the weights stay resident on the GPU; each run is one submit and one readback). */
  backend?: EngineBackend;
  /** WebGPU: the device to run on; default: one the engine makes and keeps (navigator.gpu, or Dawn in Node). */
  device?: GPUDevice;
  /** Kernels to use instead of the installed or WebAssembly ones (tests compare implementations this way). */
  kernels?: CpuKernels;
  /** Threads a step may be split over (see ForwardOptions.threads); the pool lives as long as the prepared model. */
  threads?: number;
}

export type RunOptions = CpuRunOptions;

/** A prepared model; see {@link prepare}. */
export interface PreparedModel {
  /** The model resolved for the shape it was prepared for. */
  readonly model: ResolvedModel;
  /** The backend that runs it, with detail ("cpu (wasm-simd)"). */
  readonly backend: string;
  /**
   * Runs the model on one input (`{shape: [N, C, H, W], data: Float32Array}`, checked as
   * `forward()` checks it). The result's tensors are the caller's own copies.
   * @throws EngineInputError for a bad input, CancelledError when `options.signal` aborts
   */
  run(input: Tensor, options?: RunOptions): Promise<ForwardResult>;
  /** Frees what the model holds: its threads on the CPU (they also stop when the prepared model is garbage-collected), its weights and buffers on WebGPU. Later runs fail. */
  dispose(): void;
}

/** Stops a dropped prepared model's threads. */
const dropped = new FinalizationRegistry<CpuKernels>((kernels) => disposeWasmKernels(kernels));

/**
 * Prepares a model to run many times on the CPU. The weights are checked and packed here, once:
 * they must not change afterwards (a changed array is not seen by later runs, or only in part;
 * prepare again instead). Prepare runs the model once on zeros, so that weights are packed and
 * buffers sized before the first `run()`.
 * @param model the spec object (validated here) or a model from `resolveModel()`
 * @param weights state_dict names to tensors; extra keys are ignored
 * @throws SpecError for an invalid spec, EngineInputError for bad weights (naming the layer path and the tensor)
 */
export async function prepare(model: ModelSpec | ResolvedModel | unknown, weights: WeightMap, options: PrepareOptions = {}): Promise<PreparedModel> {
  const backend = options.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'webgpu') throw new Error(`unknown backend ${JSON.stringify(backend)} (known: cpu, webgpu)`);
  const resolved = isResolved(model) && !options.inputShape ? model : resolveModel(specOf(model), { inputShape: options.inputShape });
  validateWeights(resolved, weights);
  if (backend === 'webgpu') return prepareWebGPU(resolved, weights, options);
  const kernels = await kernelsForPreparedModel(options.kernels, options.threads);
  const cpu = new CpuPreparedModel(resolved, weights, kernels, options.fuse ?? true);
  await cpu.runOnCopy(resolved, { shape: [...resolved.inputShape], data: new Float32Array(elementCount(resolved.inputShape)) });
  /** Models resolved per input shape, so that a run with a shape seen before resolves nothing. */
  const byShape = new Map<string, ResolvedModel>([[resolved.inputShape.join('x'), resolved]]);
  let disposed = false;
  const prepared: PreparedModel = {
    model: resolved,
    backend: `cpu (${kernels.name})`,
    dispose() {
      if (disposed) return;
      disposed = true;
      dropped.unregister(prepared);
      if (kernels !== options.kernels) disposeWasmKernels(kernels);
    },
    async run(input, runOptions = {}) {
      if (disposed) throw new Error('this prepared model was disposed');
      const known = Array.isArray(input?.shape) ? byShape.get(input.shape.join('x')) : undefined;
      // The NaN/Inf scan runs on the run's own copy (see runOnCopy): one copy, taken at the call.
      const forInput = resolveForInput(known ?? resolved, input, { scan: false });
      if (!known) {
        if (byShape.size >= 8) byShape.clear();
        byShape.set(forInput.inputShape.join('x'), forInput);
      }
      return cpu.runOnCopy(forInput, input, runOptions);
    },
  };
  if (kernels !== options.kernels) dropped.register(prepared, kernels, prepared);
  return prepared;
}

/** Compiled models kept per input shape by a WebGPU session (the oldest disposed first). */
const MAX_GPU_SHAPES = 4;

/**
 * A WebGPU session: the model compiled once per input shape (weights uploaded, pipelines and bind
 * groups made); a run writes the input, submits once and reads back once.
 */
async function prepareWebGPU(resolved: ResolvedModel, weights: WeightMap, options: PrepareOptions): Promise<PreparedModel> {
  const webgpu = await loadWebGPUBackend();
  const device = options.device ?? (await defaultDevice());
  const fuse = options.fuse ?? true;
  const compiled = new Map<string, Promise<WebGPUModel>>();
  const compile = (forInput: ResolvedModel) => {
    const key = forInput.inputShape.join('x');
    let found = compiled.get(key);
    if (!found) {
      if (compiled.size >= MAX_GPU_SHAPES) {
        const [oldest, first] = compiled.entries().next().value!;
        compiled.delete(oldest);
        void first.then(
          (m) => m.dispose(),
          () => undefined,
        );
      }
      found = webgpu.WebGPUModel.create(device, forInput, weights, { fuse });
      compiled.set(key, found);
      found.catch(() => compiled.delete(key));
    }
    return found;
  };
  await compile(resolved);
  let disposed = false;
  return {
    model: resolved,
    backend: 'webgpu',
    async run(input, runOptions = {}) {
      if (disposed) throw new Error('this prepared model was disposed');
      const forInput = resolveForInput(resolved, input);
      runOptions.onProgress?.(0, 1);
      const result = await (await compile(forInput)).run(input, { signal: runOptions.signal, intermediates: runOptions.intermediates });
      runOptions.onProgress?.(1, 1);
      return {
        output: result.output,
        ...(result.outputs.length > 1 ? { outputs: result.outputs } : {}),
        intermediates: result.intermediates,
        timings: result.timings.steps,
        backend: 'webgpu',
      };
    },
    dispose() {
      disposed = true;
      for (const model of compiled.values())
        void model.then(
          (m) => m.dispose(),
          () => undefined,
        );
      compiled.clear();
    },
  };
}
