/**
 * One run of a model as every runner does it (the host's GPU path, the engine's worker thread,
 * the page's Web Worker): resolve the model for the input, make the weights when they are only
 * described, run; and the answer the page gets of a run (previews of the feature maps, timings).
 * Imports neither `vscode`, the DOM nor node modules.
 */
import type { EngineBackend, RunResult, WeightSource, WireFeatureMap } from '../shared/protocol';
import { channelPlanes, channelRanges, makePreview, previewBytes, previewedChannels } from '../shared/featurePreview';
import { packedViews, type PackedFeatureMap } from '../shared/packedMaps';
import type { ModelSpec, ResolvedModel } from '../shared/spec';
import type { Tensor } from '../shared/tensor';
import { forward, resolveForInput } from './forward';
import type { ForwardOptions, ForwardResult, Intermediate, WeightMap } from './types';
import { isWeightSource, makeWeights } from './weights';

/** A forward pass of `model` on `input`: the weights as tensors, or as a description to make them from. */
export async function runModel(
  model: ModelSpec | ResolvedModel | unknown,
  weights: WeightMap | WeightSource,
  input: Tensor,
  options: ForwardOptions = {},
): Promise<ForwardResult> {
  // Resolved once, here: forward() takes the resolved model as it is.
  const resolved = resolveForInput(model, input);
  return forward(resolved, isWeightSource(weights) ? makeWeights(resolved, weights) : weights, input, options);
}

/** A step of a run as the page draws it: every channel's range, preview bytes for at most `previewChannels` channels. */
export function featureMapOf(step: Omit<Intermediate, 'tensor'>, tensor: Tensor, previewChannels: number): WireFeatureMap {
  const preview = makePreview(tensor.data, tensor.shape, previewChannels);
  return { ...mapFields(step, tensor.shape, preview.previewChannels), preview: preview.preview.buffer, ranges: preview.ranges.buffer };
}

/** What the page is told of a step's map besides its bytes. */
function mapFields(step: Omit<Intermediate, 'tensor'>, shape: number[], previewChannels: number) {
  return { key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, shape, previewChannels };
}

/**
 * Every step of a run as the page draws it, in one buffer (packedMaps.ts): each map's ranges and
 * preview bytes (at most `previewChannels` channels) are written straight into their place.
 */
export function packedFeatureMaps(
  steps: readonly Intermediate[],
  previewChannels: number,
  spare?: (bytes: number) => ArrayBufferLike | undefined,
): PackedFeatureMap[] {
  const parts = steps.map((step) => {
    const { shape } = step.tensor;
    const { channels, plane } = channelPlanes(shape);
    const previewed = previewedChannels(shape, previewChannels);
    return { step, channels, plane, previewed, ranges: channelRanges(step.tensor.data, channels, plane) };
  });
  const views = packedViews(
    parts.map((p) => ({ rangeFloats: p.ranges.length, previewBytes: p.previewed * p.plane })),
    spare,
  );
  return parts.map(({ step, plane, previewed, ranges: made }, i) => {
    const { ranges, preview } = views[i]!;
    ranges.set(made);
    previewBytes(step.tensor.data, made, plane, 0, previewed, 0, preview);
    return { ...mapFields(step, step.tensor.shape, previewed), preview, ranges };
  });
}

/** Who ran a run, and for how long. */
export interface RunAbout {
  backend: EngineBackend;
  device: string;
  note?: string;
  runId: number;
  /** Wall time of the forward pass, ms. */
  totalMs: number;
}

/** The page's answer to a run: its feature maps (from {@link featureMapOf}), the output's shape, the timings. */
export function toRunResult<M extends WireFeatureMap>(
  result: ForwardResult,
  featureMaps: M[],
  about: RunAbout,
): Omit<RunResult, 'featureMaps'> & { featureMaps: M[] } {
  return {
    backend: about.backend,
    device: about.device,
    ...(about.note !== undefined ? { note: about.note } : {}),
    runId: about.runId,
    outputShape: result.output.shape,
    featureMaps,
    timings: result.timings.map(({ key, label, ms }) => ({ key, label, ms })),
    totalMs: about.totalMs,
  };
}
