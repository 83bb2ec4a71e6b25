/**
 * The Sequentials of a file that the playground can open (the CodeLens "Open in Playground"):
 * every nn.Sequential / Keras Sequential, outermost only, whose layers are all model-spec layers
 * with known arguments (read by the syntax reader, modelCode.ts, and turned into a spec by
 * layerEstimates.ts). Its input is what the evaluation gave its first layer where that is known,
 * else 1 x (the first layer's channels) x the default size.
 */
import type { ModelCode } from './modelCode';
import { estimateSequentials, type EstimateSettings } from './layerEstimates';
import type { PlaygroundSite } from './analysisProtocol';
import type { SiteRow } from './siteRows';
import { resolveModel } from '../shared/spec';

const CHAINED = new Set(['torch-sequential', 'keras-sequential']);

export function playgroundSites(code: ModelCode, sites: readonly SiteRow[], settings: EstimateSettings): PlaygroundSite[] {
  const estimates = estimateSequentials(code, settings);
  const rows = new Map(sites.map((r) => [r.start, r]));
  const out: PlaygroundSite[] = [];
  code.containers.forEach((container, index) => {
    if (!CHAINED.has(container.kind)) return;
    const parent = container.parent === undefined ? undefined : code.containers[container.parent];
    if (parent && CHAINED.has(parent.kind)) return;
    const model = estimates.containers[index]?.model;
    if (!model) return;
    // The input the evaluation found for the first layer (PyTorch: NCHW, as the spec), when every instance agrees.
    const first = container.items[0];
    const row = first?.kind === 'layer' && container.kind === 'torch-sequential' ? rows.get(code.calls[first.call]!.span.start) : undefined;
    let spec = model;
    if (row?.input_shape && row.input_shape.length === 4 && row.input_shape[1] === model.input_shape?.[1]) {
      const candidate = { ...model, input_shape: row.input_shape };
      try {
        resolveModel(candidate);
        spec = candidate;
      } catch {
        // Not valid at that size (a pool larger than the map): keep the default size.
      }
    }
    const name = container.name ?? (container.kind === 'keras-sequential' ? 'Sequential' : 'nn.Sequential');
    out.push({ line: container.span.startLine, column: container.span.startColumn, name, model: spec });
  });
  return out;
}
