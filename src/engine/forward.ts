/**
 * `forward()`: the engine's one entry point. Resolves the model for the input's shape, checks
 * the input and the weights (an error names the layer and the tensor), then runs the chosen
 * backend. Imports neither `vscode`, the DOM nor node modules.
 */
import { resolveModel, SpecError, type ModelSpec, type ResolvedModel } from '../shared/spec';
import { elementCount, type Tensor } from '../shared/tensor';
import { forwardCpu } from './cpu/cpuBackend';
import { EngineInputError } from './errors';
import { outlineSteps, type StepOutline } from './stepLabels';
import type { ForwardOptions, ForwardResult, Intermediate, StepTiming, WeightMap } from './types';
import { firstNonFinite, validateWeights } from './weights';

/** Whether `model` is a model from `resolveModel()` rather than a spec. */
export function isResolved(model: unknown): model is ResolvedModel {
  const m = model as Partial<ResolvedModel> | null;
  return typeof m === 'object' && m !== null && Array.isArray(m.leaves) && Array.isArray(m.layers) && Array.isArray(m.inputShape);
}

/** The spec to resolve `model` again (for another input shape): a spec as it is, a resolved model's layer specs. */
export function specOf(model: ModelSpec | ResolvedModel | unknown): unknown {
  return isResolved(model) ? { name: model.name, layers: model.layers.map((layer) => layer.spec) } : model;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Checks the input tensor on its own: a 4-D shape of positive integers and finite float32 data that fills it. */
function checkInputTensor(input: Tensor, firstLayer: string): void {
  const fail = (reason: string): never => {
    throw new EngineInputError(firstLayer, 'input', reason);
  };
  if (typeof input !== 'object' || input === null) fail('must be {shape: [N, C, H, W], data: Float32Array}');
  const { shape, data } = input;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 1)) fail(`shape must be [N, C, H, W] with positive integers, got ${JSON.stringify(shape)}`);
  if (!(data instanceof Float32Array)) fail('data must be a Float32Array');
  const expected = elementCount(shape);
  if (data.length !== expected) fail(`has ${data.length} values for shape [${shape.join(', ')}] (${expected})`);
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    const [, c, h, w] = shape as [number, number, number, number];
    const at = [Math.floor(bad / (c * h * w)), Math.floor(bad / (h * w)) % c, Math.floor(bad / w) % h, bad % w];
    fail(`element ${bad} (n=${at[0]}, c=${at[1]}, y=${at[2]}, x=${at[3]}) is ${data[bad]}`);
  }
}

/**
 * The model resolved for this input's shape. A spec error caused by the input (a channel count
 * the first conv does not take, a size too small for a kernel) becomes an input error.
 */
export function resolveForInput(model: ModelSpec | ResolvedModel | unknown, input: Tensor): ResolvedModel {
  checkInputTensor(input, 'layers[0]');
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
export async function forward(model: ModelSpec | ResolvedModel | unknown, weights: WeightMap, input: Tensor, options: ForwardOptions = {}): Promise<ForwardResult> {
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
  let webgpu: typeof import('./webgpu/index');
  try {
    webgpu = await import('./webgpu/index');
  } catch (error) {
    throw new Error(`the webgpu backend is not available in this build: ${(error as Error).message}`);
  }
  // The same steps as the CPU backend: fused dispatches end where a CPU step ends, so each step's
  // output exists on the GPU and is read back when the caller asks for intermediates.
  const steps = outlineSteps(model, { fuse: options.fuse ?? true });
  const stepKeys = steps.map((step) => step.key);
  options.onProgress?.(0, 1);
  const result = await webgpu.forwardWebGPU(model, weights, input, {
    device: options.device, signal: options.signal, stepEnds: stepKeys, intermediates: options.intermediates ? stepKeys : undefined,
  });
  options.onProgress?.(1, 1);
  const intermediates: Intermediate[] | undefined = options.intermediates
    ? steps.map((step) => ({ ...step, tensor: result.intermediates![step.key]! }))
    : undefined;
  return { output: result.output, intermediates, timings: result.timings.timestamps ? stepTimings(steps, result.timings.stages) : [], backend: result.backend };
}

/**
 * GPU time per step: each dispatch counted to the step that covers the modules it computed (a
 * step may take several dispatches: a layout change, batch statistics; a Dropout none).
 */
function stepTimings(steps: StepOutline[], stages: ReadonlyArray<{ keys: readonly string[]; ms: number }>): StepTiming[] {
  const stepOf = new Map<string, number>();
  steps.forEach((step, i) => {
    for (const key of step.leafKeys) stepOf.set(key, i);
    stepOf.set(step.key, i);
  });
  const ms = new Float64Array(steps.length);
  for (const stage of stages) {
    // "3.0(layout)": a layout change made for module 3.0, part of its step.
    const at = stage.keys.map((key) => stepOf.get(key.replace(/\(layout\)$/, ''))).find((i) => i !== undefined);
    if (at !== undefined) ms[at] = ms[at]! + stage.ms;
  }
  return steps.map((step, i) => ({ key: step.key, label: step.label, ms: ms[i]! }));
}
