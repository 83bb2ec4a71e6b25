/** What the page keeps across reloads (VS Code's getState/setState, localStorage standalone). */
import type { Convention, Dtype } from '../src/shared/cost';
import { getPreset } from '../src/shared/presets';
import type { RunWeights } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';
import type { ColormapName } from './colormap';
import type { MapNormalisation } from './featureMaps';
import type { Normalisation, PatternName } from './patterns';
import { checkStoredImage, type StoredImage } from './storedImage';

/** The images of media/samples (see its LICENSE.md): drawings, photographs, text for OCR models. */
export const SAMPLES = ['shapes', 'text', 'rings', 'skyline', 'astronaut', 'coffee', 'chelsea', 'rocket', 'text_line', 'text_page'] as const;
export type SampleName = (typeof SAMPLES)[number];
const PHOTOGRAPHS: readonly SampleName[] = ['astronaut', 'coffee', 'chelsea', 'rocket'];

/** A sample's file name in media/samples: the photographs are JPEG, the rest PNG. */
export function sampleFile(name: SampleName): string {
  return PHOTOGRAPHS.includes(name) ? `${name}.jpg` : `${name}.png`;
}

/** How a sample is listed. */
export function sampleLabel(name: SampleName): string {
  if (PHOTOGRAPHS.includes(name)) return `Photo: ${name}`;
  if (name === 'text_line') return 'Text: one line (192x48)';
  if (name === 'text_page') return 'Text: a page (320x192)';
  return `Drawing: ${name}`;
}

export type InputChoice = { kind: 'sample'; name: SampleName } | { kind: 'pattern'; name: PatternName } | { kind: 'file'; name: string };

export type BackendChoice = 'auto' | 'host-gpu' | 'webview-gpu' | 'cpu';
/** How the model is shown: the layer editor's fields, or the collapsible list of its blocks. */
export type ModelView = 'editor' | 'blocks';
/** Which feature maps are shown: every step's, every conv's, or those of the blocks chosen in the list. */
export type MapSteps = 'all' | 'convs' | 'chosen';
export type Tab = 'maps' | 'costs' | 'export';

export interface PlaygroundState {
  version: 1;
  model: ModelSpec;
  input: InputChoice;
  /** [height, width] */
  inputSize: [number, number];
  normalisation: Normalisation;
  /** Per colour (R, G, B) mean and std of the 'custom' normalisation, on [0, 1] values. */
  customMean: [number, number, number];
  customStd: [number, number, number];
  weights: RunWeights;
  backend: BackendChoice;
  colormap: ColormapName;
  mapNormalisation: MapNormalisation;
  modelView: ModelView;
  mapSteps: MapSteps;
  /** Block keys (state_dict prefixes) whose maps 'chosen' shows. */
  chosenBlocks: string[];
  convention: Convention;
  dtype: Dtype;
  device: string;
  customPeakGflops: number;
  customBandwidthGbs: number;
  tab: Tab;
  /** The user's last image, a bounded copy (see storedImage.ts); absent when none or too large to keep. */
  userImage?: StoredImage;
  /** An imported model's params per node, counted from its file, where the spec counts otherwise. */
  countedParams?: Record<string, number>;
}

export function defaultState(): PlaygroundState {
  return {
    version: 1,
    model: getPreset('mobilenet_v1_first3')!,
    input: { kind: 'sample', name: 'shapes' },
    inputSize: [224, 224],
    normalisation: 'unit',
    customMean: [0.485, 0.456, 0.406],
    customStd: [0.229, 0.224, 0.225],
    weights: { kind: 'filters', filter: 'sobel_x', seed: 0 },
    backend: 'auto',
    colormap: 'viridis',
    mapNormalisation: 'channel',
    modelView: 'editor',
    mapSteps: 'all',
    chosenBlocks: [],
    convention: 'torchinfo',
    dtype: 'fp32',
    device: 'x86 core, 128-bit SIMD (3 GHz)',
    customPeakGflops: 100,
    customBandwidthGbs: 20,
    tab: 'maps',
  };
}

/** A stored state merged over the defaults (fields of an older or damaged state fall back). */
export function restoreState(stored: unknown): PlaygroundState {
  const state = defaultState();
  if (!stored || typeof stored !== 'object' || (stored as { version?: unknown }).version !== 1) return state;
  const merged = { ...state, ...(stored as Partial<PlaygroundState>) };
  if (!merged.model || (!Array.isArray(merged.model.layers) && !Array.isArray((merged.model as { nodes?: unknown }).nodes))) merged.model = state.model;
  merged.userImage = checkStoredImage(merged.userImage);
  const triple = (value: unknown, positive: boolean) => Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!triple(merged.customMean, false)) merged.customMean = state.customMean;
  if (!triple(merged.customStd, true)) merged.customStd = state.customStd;
  merged.countedParams = checkCountedParams(merged.countedParams);
  if (!Array.isArray(merged.chosenBlocks) || !merged.chosenBlocks.every((k) => typeof k === 'string')) merged.chosenBlocks = [];
  if (!['editor', 'blocks'].includes(merged.modelView)) merged.modelView = state.modelView;
  if (!['all', 'convs', 'chosen'].includes(merged.mapSteps)) merged.mapSteps = state.mapSteps;
  // A user image that was not kept (too large) falls back to the first sample.
  if (!merged.input || typeof merged.input !== 'object' || (merged.input.kind === 'file' && !merged.userImage)) merged.input = state.input;
  return merged;
}

/** A map of node name to a count, or undefined. */
export function checkCountedParams(value: unknown): Record<string, number> | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, number> = {};
  for (const [key, count] of Object.entries(value)) {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return undefined;
    Object.defineProperty(out, key, { value: count, enumerable: true });
  }
  return out;
}
