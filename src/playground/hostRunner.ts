/**
 * Forward passes that the page asks the host to run: CPU passes in the engine's worker thread
 * (never on the extension host's own thread), 'host GPU' passes on Dawn's device when its
 * readback probe passed. The engine and Dawn are loaded on first use, not at activation.
 */
import type { HostGpuInfo, RunRequestBody, RunResult } from '../shared/protocol';
import type { PackedRunResult } from '../shared/packedMaps';
import type { WeightMap } from '../engine/types';
import type { WorkerRunResult } from '../engine/workerProtocol';
import type { WeightSource } from '../shared/protocol';
import { readWorkspaceFile } from './workspaceFiles';
import type { RunStore } from './runStore';
import type { HeldInputs } from './heldInputs';
import { parameterShapes, resolveModel } from '../shared/spec';

export interface RunContext {
  signal: AbortSignal;
  progress(done: number, total: number, label: string): void;
  /** Where the run's full values stay for `readTensor`. */
  runs: RunStore;
  /** The panel's latest inputs, for runs that name theirs instead of sending it. */
  inputs: HeldInputs;
  /** The trained weights of the model file opened in this panel, for `weights: {kind: 'imported'}`. */
  importedWeights?: WeightMap;
}

/** The state_dict keys the run's model needs; none when the spec is invalid (the engine reports that). */
function neededWeightKeys(body: RunRequestBody): string[] {
  try {
    return parameterShapes(resolveModel(body.model, { inputShape: body.input.shape })).map((t) => t.key);
  } catch {
    return [];
  }
}

async function weightsFor(body: RunRequestBody, context: RunContext): Promise<WeightMap | WeightSource> {
  if (body.weights.kind === 'imported') {
    if (!context.importedWeights) throw new Error("this panel has no model file's weights (they are not kept across a reload): open the model again");
    return context.importedWeights;
  }
  if (body.weights.kind !== 'safetensors') return body.weights;
  const { readSafetensors, requireDecoded } = await import('../io/safetensors');
  const file = await readWorkspaceFile(body.weights.path);
  try {
    const read = readSafetensors(file.data);
    requireDecoded(read, neededWeightKeys(body));
    return read.tensors;
  } catch (error) {
    throw new Error(`${body.weights.path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The answer to a run: previews of the feature maps (what the page draws), not their values,
 * which stay in `runs` until the page reads them.
 */
async function toResult(
  result: WorkerRunResult,
  body: RunRequestBody,
  runs: RunStore,
  backend: RunResult['backend'],
  device: string,
  totalMs: number,
): Promise<PackedRunResult> {
  const { packedFeatureMaps, toRunResult } = await import('../engine/modelRun');
  const steps = result.intermediates ?? [];
  const runId = runs.keep(
    result.output,
    steps.map((step) => ({ key: step.key, shape: step.tensor.shape, data: step.tensor.data })),
  );
  // One buffer for every map's preview and ranges (packedMaps.ts); made by the engine's worker for CPU runs.
  return { ...toRunResult(result, [], { backend, device, runId, totalMs }), featureMaps: result.featureMaps ?? packedFeatureMaps(steps, body.previewChannels) };
}

/** A name for each set of imported weights the panels hold, for the engine worker to keep its model prepared for them. */
const weightsKeys = new WeakMap<WeightMap, string>();
let nextWeightsKey = 1;
function weightsKeyOf(weights: WeightMap): string {
  let key = weightsKeys.get(weights);
  if (!key) weightsKeys.set(weights, (key = `imported ${nextWeightsKey++}`));
  return key;
}

export async function runOnHost(body: RunRequestBody, context: RunContext): Promise<PackedRunResult> {
  const received = performance.now();
  const result = await runAndPreview(body, context);
  return { ...result, hostMs: performance.now() - received };
}

async function runAndPreview(body: RunRequestBody, context: RunContext): Promise<PackedRunResult> {
  const input = context.inputs.take(body.input);
  const weights = await weightsFor(body, context);
  const onProgress = (done: number, total: number) => context.progress(done, total, `step ${done} of ${total}`);
  if (body.backend === 'webgpu') {
    const { getHostDevice } = await import('../engine/gpuDevice');
    const device = await getHostDevice();
    if (!device.ok) throw new Error(`${device.reason}; choose Page GPU or CPU`);
    const { runModel } = await import('../engine/modelRun');
    const start = performance.now();
    const result = await runModel(body.model, weights, input, {
      backend: 'webgpu',
      device: device.device,
      intermediates: body.intermediates,
      signal: context.signal,
      onProgress,
    });
    return await toResult(result, body, context.runs, 'webgpu', `host ${device.adapterName}`, performance.now() - start);
  }
  const { runInWorker } = await import('../engine/workerClient');
  // The previous run's values are about to be replaced: their buffers go to the worker to be written
  // again (new memory costs its first writes, tens of milliseconds for a run's 12 MB on some machines).
  const spare = context.runs.release();
  // The panel keeps the model file's weights for its next runs: they are copied to the worker, not transferred.
  const start = performance.now();
  const result = await runInWorker(
    {
      model: body.model,
      input,
      weights,
      options: { backend: 'cpu', intermediates: body.intermediates },
      previewChannels: body.previewChannels,
      ...(body.weights.kind === 'imported' && context.importedWeights ? { weightsKey: weightsKeyOf(context.importedWeights) } : {}),
      spare,
    },
    { signal: context.signal, onProgress, transfer: body.weights.kind !== 'imported' },
  );
  return await toResult(result, body, context.runs, 'cpu', `extension host worker thread, ${result.backend}`, performance.now() - start);
}

export async function probeHostGpu(): Promise<HostGpuInfo> {
  const { getHostDevice } = await import('../engine/gpuDevice');
  const device = await getHostDevice();
  return device.ok
    ? { available: true, description: device.adapterName, software: device.software }
    : { available: false, description: device.reason, software: false };
}
