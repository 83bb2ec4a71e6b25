/**
 * `forward()`: the engine's one entry point. Resolves the model for the input's shape, checks
 * the input and the weights (an error names the layer and the tensor), then runs the chosen
 * backend. Imports neither `vscode`, the DOM nor node modules.
 */
import { resolveModel, SpecError, type LeafInfo, type ModelSpec, type ResolvedModel } from '../shared/spec';
import type { Tensor } from '../shared/tensor';
import { forwardCpu } from './cpu/cpuBackend';
import { leafLabel } from './cpu/plan';
import { EngineInputError } from './errors';
import type { ForwardOptions, ForwardResult, Intermediate, WeightMap } from './types';
import { firstNonFinite, validateWeights } from './weights';

function isResolved(model: unknown): model is ResolvedModel {
  const m = model as Partial<ResolvedModel> | null;
  return typeof m === 'object' && m !== null && Array.isArray(m.leaves) && Array.isArray(m.layers) && Array.isArray(m.inputShape);
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
  const expected = shape.reduce((a, b) => a * b, 1);
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
  const spec = isResolved(model) ? { name: model.name, layers: model.layers.map((layer) => layer.spec) } : model;
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
 * @param weights state_dict names to tensors; extra keys are ignored
 * @param input `{shape: [N, C, H, W], data: Float32Array}`
 * @throws SpecError for an invalid spec, EngineInputError for bad weights or input (naming the
 *   layer path and the tensor), CancelledError when `options.signal` aborts
 */
export async function forward(model: ModelSpec | ResolvedModel | unknown, weights: WeightMap, input: Tensor, options: ForwardOptions = {}): Promise<ForwardResult> {
  const resolved = resolveForInput(model, input);
  validateWeights(resolved, weights);
  const backend = options.backend ?? 'cpu';
  if (backend === 'cpu') return forwardCpu(resolved, weights, input, options);
  if (backend === 'webgpu') return forwardOnWebGPU(resolved, weights, input, options);
  throw new Error(`unknown backend ${JSON.stringify(backend)} (known: cpu, webgpu)`);
}

async function forwardOnWebGPU(model: ResolvedModel, weights: WeightMap, input: Tensor, options: ForwardOptions): Promise<ForwardResult> {
  let webgpu: typeof import('./webgpu/index');
  try {
    webgpu = await import('./webgpu/index');
  } catch (error) {
    throw new Error(`the webgpu backend is not available in this build: ${(error as Error).message}`);
  }
  options.onProgress?.(0, 1);
  const result = await webgpu.forwardWebGPU(model, weights, input, { device: options.device, intermediates: options.intermediates, signal: options.signal });
  options.onProgress?.(1, 1);
  const leafByKey = new Map<string, LeafInfo>(model.leaves.map((leaf) => [leaf.node.key, leaf]));
  /** "3.0+3.1+3.2" (the WebGPU backend's fused stage names) -> "Conv2d 3x3 depthwise + BatchNorm2d + ReLU6". */
  const labelOf = (keys: string) => keys.split('+').map((key) => {
    const leaf = leafByKey.get(key);
    return leaf ? leafLabel(leaf.node) : 'skip add (residual)';
  }).join(' + ');
  let intermediates: Intermediate[] | undefined;
  if (result.intermediates) {
    // In execution order (a Record lists integer-like keys such as "1" before "0.0").
    const byKey = result.intermediates;
    const order = [...model.leaves.map((leaf) => leaf.node.key).filter((key) => key in byKey), ...Object.keys(byKey).filter((key) => !leafByKey.has(key))];
    intermediates = order.map((key) => {
      const tensor = byKey[key]!;
      const leaf = leafByKey.get(key);
      return { key, leafKeys: leaf ? [key] : [], label: labelOf(key), layerIndex: leaf?.layerIndex ?? Number(key.split('.')[0]), role: leaf?.role ?? 'add', tensor };
    });
  }
  return {
    output: result.output,
    intermediates,
    timings: result.timings.stages.map((stage) => ({ key: stage.name, label: labelOf(stage.name), ms: stage.ms })),
    backend: result.adapterName ? `webgpu (${result.adapterName})` : 'webgpu',
  };
}
