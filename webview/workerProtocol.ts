/**
 * Messages between the page and its engine Web Worker (webview/engineWorker.ts). Internal to the
 * page: both ends are the same bundle's code, so they are typed but not validated.
 */
import type { EngineBackend, RunResult, RunWeights, WireFeatureMap, WireTensor } from '../src/shared/protocol';
import type { CompressedFeatureMap } from '../src/shared/packedMaps';
import type { ModelSpec } from '../src/shared/spec';
import type { PaintRequest, StepGrid } from './mapImages';
import type { PageModelFile } from './modelImport';

/** Weights as the worker gets them: a source it can make itself, or the bytes of a .safetensors file. */
export type WorkerWeights = Exclude<RunWeights, { kind: 'safetensors' }> | { kind: 'safetensors'; name: string; bytes: ArrayBuffer };

export interface WebGpuProbe {
  available: boolean;
  /** Adapter description, or why there is none. */
  description: string;
  /** A software adapter (SwiftShader): correct, but slower than the CPU engine. */
  software: boolean;
}

/**
 * A feature map on the page: the wire's preview form, with the float32 values when the page has
 * them itself (runs of its own worker); a host run's values stay at the host (`readTensor`).
 */
export interface PageFeatureMap extends WireFeatureMap {
  values?: ArrayBuffer;
}

/** A run's result on the page. */
export interface PageRunResult extends Omit<RunResult, 'featureMaps'> {
  featureMaps: PageFeatureMap[];
}

/** A step's grid as the worker painted it: the page puts the pixels in its canvas as they are. */
export interface StepPicture {
  /** RGBA, grid.layout.width x grid.layout.height. */
  pixels: ArrayBuffer;
  grid: StepGrid;
  /** What it was painted for (the page repaints if its options changed in the meantime). */
  request: PaintRequest;
}

/**
 * Runs and paints may carry `spare`: pixel buffers of pictures the page has drawn, moved back to
 * be painted into again (src/shared/spareBuffers.ts).
 */
export type ToWorker =
  | { type: 'probe'; id: number }
  /** A forward pass; the result comes with its feature maps painted for `paint`. */
  | { type: 'run'; id: number; backend: EngineBackend; model: ModelSpec; input: WireTensor; weights: WorkerWeights; paint: PaintRequest; spare?: ArrayBuffer[] }
  /** Paint feature maps computed elsewhere (the extension host); they come back with their pictures. */
  | { type: 'paint'; id: number; maps: PageFeatureMap[]; paint: PaintRequest; spare?: ArrayBuffer[] }
  /**
   * Inflate a host run's compressed maps (`bytes` once inflated, see CompressedRunResult in
   * src/shared/packedMaps.ts), then paint them; they come back with their pictures.
   */
  | { type: 'unpack'; id: number; maps: CompressedFeatureMap[]; deflated: ArrayBuffer; bytes: number; paint: PaintRequest; spare?: ArrayBuffer[] }
  /** A model file the user opened in the standalone page, to import (its bytes move to the worker). */
  | { type: 'import'; id: number; name: string; bytes: ArrayBuffer };

/** Feature maps with their grids, `pictures[i]` for `maps[i]` (undefined for a map that is not [1, C, H, W]). */
export interface PaintedMaps {
  maps: PageFeatureMap[];
  pictures: (StepPicture | undefined)[];
}

export type FromWorker =
  | { type: 'probe'; id: number; webgpu: WebGpuProbe }
  | { type: 'progress'; id: number; done: number; total: number; label: string }
  | { type: 'result'; id: number; result: PageRunResult; pictures: (StepPicture | undefined)[] }
  | { type: 'painted'; id: number; painted: PaintedMaps }
  | { type: 'imported'; id: number; model: PageModelFile }
  | { type: 'error'; id: number; error: string };
