/**
 * `forward()`: the engine's one entry point. Resolves the model for the input's shape, checks
 * the input and the weights (an error names the layer and the tensor), then runs the chosen
 * backend. Imports neither `vscode`, the DOM nor node modules.
 */
import { resolveModel, SpecError, type ModelSpec, type ResolvedModel } from '../shared/spec';
import { elementCount, sameShape, type Tensor } from '../shared/tensor';
import { forwardCpu } from './cpu/cpuBackend';
import { EngineInputError } from './errors';
import type { ForwardOptions, ForwardResult, WeightMap } from './types';
import { firstNonFinite, throwIfNonFinite, validateWeights } from './weights';

/** Whether `model` is a model from `resolveModel()` rather than a spec. */
export function isResolved(model: unknown): model is ResolvedModel {
  const m = model as Partial<ResolvedModel> | null;
  return typeof m === 'object' && m !== null && Array.isArray(m.leaves) && Array.isArray(m.layers) && Array.isArray(m.inputShape);
}

/** The spec to resolve `model` again (for another input shape): a spec as it is, a resolved model's layer (or node) specs. */
export function specOf(model: ModelSpec | ResolvedModel | unknown): unknown {
  if (!isResolved(model)) return model;
  if (model.form === 'graph')
    return { name: model.name, nodes: model.layers.map((layer) => layer.spec), ...(model.outputNames ? { outputs: model.outputNames } : {}) };
  return { name: model.name, layers: model.layers.map((layer) => layer.spec) };
}

/** Checks the input tensor on its own: a 4-D shape of positive integers and float32 data that fills it, finite unless `scan` is false. */
function checkInputTensor(input: Tensor, firstLayer: string, scan: boolean): void {
  const fail = (reason: string): never => {
    throw new EngineInputError(firstLayer, 'input', reason);
  };
  if (typeof input !== 'object' || input === null) fail('must be {shape: [N, C, H, W], data: Float32Array}');
  const { shape, data } = input;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 1))
    fail(`shape must be [N, C, H, W] with positive integers, got ${JSON.stringify(shape)}`);
  if (!(data instanceof Float32Array)) fail('data must be a Float32Array');
  const expected = elementCount(shape);
  if (data.length !== expected) fail(`has ${data.length} values for shape [${shape.join(', ')}] (${expected})`);
  if (scan) throwIfNonFinite(shape, data, firstNonFinite(data), firstLayer);
}

/**
 * The model resolved for this input's shape. A spec error caused by the input (a channel count
 * the first conv does not take, a size too small for a kernel) becomes an input error.
 */
export function resolveForInput(model: ModelSpec | ResolvedModel | unknown, input: Tensor, options: { scan?: boolean } = {}): ResolvedModel {
  checkInputTensor(input, 'layers[0]', options.scan ?? true);
  if (isResolved(model) && sameShape(model.inputShape, input.shape)) return model;
  const spec = specOf(model);
  try {
    return resolveModel(spec, { inputShape: input.shape });
  } catch (error) {
    if (!(error instanceof SpecError)) throw error;
    let specIsValid = false;
    try {
      resolveModel(spec);
      specIsValid = true;
    } catch {
      // The spec is wrong whatever the input: report the spec error itself.
    }
    if (specIsValid) throw new EngineInputError(error.path, 'input', `${error.reason} (input shape [${input.shape.join(', ')}])`);
    throw error;
  }
}

/**
 * Runs a model forward.
 * @param model the spec object (validated here) or a model from `resolveModel()`
 * @param weights state_dict names to tensors; extra keys are ignored. They are read while the run
 *   goes on: leave the arrays alone until it settles
 * @param input `{shape: [N, C, H, W], data: Float32Array}`, checked and copied at the call
 * @throws SpecError for an invalid spec, EngineInputError for bad weights or input (naming the
 *   layer path and the tensor), CancelledError when `options.signal` aborts
 */
export async function forward(
  model: ModelSpec | ResolvedModel | unknown,
  weights: WeightMap,
  input: Tensor,
  options: ForwardOptions = {},
): Promise<ForwardResult> {
  const resolved = resolveForInput(model, input);
  // The run reads a copy taken together with the check: the run starts after an await, and an
  // array the caller changes in between (NaN, say) must not reach it unchecked.
  const checkedInput: Tensor = { shape: [...input.shape], data: input.data.slice() };
  validateWeights(resolved, weights);
  const backend = options.backend ?? 'cpu';
  if (backend === 'cpu') return forwardCpu(resolved, weights, checkedInput, options);
  if (backend === 'webgpu') return forwardOnWebGPU(resolved, weights, checkedInput, options);
  throw new Error(`unknown backend ${JSON.stringify(backend)} (known: cpu, webgpu)`);
}

async function forwardOnWebGPU(model: ResolvedModel, weights: WeightMap, input: Tensor, options: ForwardOptions): Promise<ForwardResult> {
  const webgpu = await loadWebGPUBackend();
  const device = options.device ?? (await defaultDevice());
  options.onProgress?.(0, 1);
  const result = await webgpu.forwardWebGPU(model, weights, input, {
    device,
    signal: options.signal,
    intermediates: options.intermediates,
    fuse: options.fuse ?? true,
  });
  options.onProgress?.(1, 1);
  return {
    output: result.output,
    ...(result.outputs ? { outputs: result.outputs } : {}),
    intermediates: result.intermediates,
    timings: result.timings.steps,
    backend: result.backend,
  };
}

/** The WebGPU backend's module, loaded on first use. */
export async function loadWebGPUBackend(): Promise<typeof import('./webgpu/index')> {
  try {
    return await import('./webgpu/index');
  } catch (error) {
    throw new Error(`the webgpu backend is not available in this build: ${(error as Error).message}`);
  }
}

let browserDevice: Promise<GPUDevice> | undefined;

/**
 * The device a webgpu run uses when the caller gives none: in a browser, one from
 * `navigator.gpu` (made once); in Node, the host's Dawn device of gpuDevice.ts (made once and
 * cached, with Dawn's instance kept alive as long as its devices).
 */
export async function defaultDevice(): Promise<GPUDevice> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (gpu) {
    browserDevice ??= (async () => {
      const adapter = await gpu.requestAdapter();
      if (!adapter) throw new Error('navigator.gpu has no adapter');
      const device = await adapter.requestDevice();
      void device.lost.then(() => {
        browserDevice = undefined;
      });
      return device;
    })();
    browserDevice.catch(() => {
      browserDevice = undefined;
    });
    return browserDevice;
  }
  if (typeof process === 'undefined' || !process.versions?.node)
    throw new Error('the webgpu backend needs options.device: this runtime has neither navigator.gpu nor Node');
  const { getHostDevice } = await import('./gpuDevice');
  const result = await getHostDevice();
  if (!result.ok) throw new Error(result.reason);
  return result.device;
}
