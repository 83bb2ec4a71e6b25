/**
 * The engine library (built to dist/engine.mjs, an ES module): forward passes of a model spec on
 * the CPU or WebGPU, exact to PyTorch. Imports neither `vscode`, the DOM nor node modules.
 *
 * ```js
 * import { forward, initWeights, resolveModel } from './dist/engine.mjs';
 * const model = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 8 }] };
 * const weights = initWeights(resolveModel(model, { inputShape: [1, 3, 32, 32] }), { seed: 42 });
 * const { output } = await forward(model, weights, { shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32) });
 * // Many runs of one model: check and pack the weights once (they must not change afterwards).
 * const session = await prepare(model, weights, { inputShape: [1, 3, 32, 32] });
 * const { output: again } = await session.run({ shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32) });
 * // On WebGPU (a device of the engine's own unless options.device): weights resident on the GPU.
 * const gpu = await prepare(model, weights, { backend: 'webgpu', inputShape: [1, 3, 32, 32] });
 * ```
 * A model is the chain form (`layers`) or the graph form (`nodes` with named `inputs`); both run
 * through one internal graph (graph/graph.ts) and one planner (graph/planner.ts).
 */
export { forward, resolveForInput } from './forward';
export { prepare, type PreparedModel, type PrepareOptions, type RunOptions } from './preparedModel';
export { forwardCpu, type CpuForwardOptions } from './cpu/cpuBackend';
export { CancelledError, EngineInputError, layerPathOf } from './errors';
export { filterWeights, initWeights, makeFilter, makeWeights, parseFilterName, parseWeightSource, validateWeights, type InitOptions } from './weights';
export { FILTER_NAMES, type EngineBackend, type FilterName, type WeightSource } from '../shared/protocol';
export { setCpuKernels, installedCpuKernels, type ConvGeometry, type CpuKernels, type Epilogue } from './cpu/kernels/cpuKernels';
export { jsKernels } from './cpu/kernels/jsKernels';
export { activationKind, activationName, type ActivationKind } from './activationKind';
export { referenceForward } from './cpu/reference';
export type { ForwardOptions, ForwardResult, Intermediate, ModelInput, StepTiming, Tensor, WeightMap } from './types';
export { resolveModel, parameterShapes, SpecError, type GraphModelSpec, type GraphNodeSpec, type ModelSpec, type ResolvedModel } from '../shared/spec';
export { lowerModel, type Graph, type GraphNode, type GraphValue } from './graph/graph';
export { planGraph, type Plan, type PlanStep } from './graph/planner';
