/**
 * The messages between the host and the engine's worker thread (engineWorker.ts / workerClient.ts).
 * Tensors travel as Float32Arrays whose buffers are transferred, never as JSON arrays.
 */
import type { ModelSpec } from '../shared/spec';
import type { Tensor } from '../shared/tensor';
import type { ForwardResult, WeightMap } from './types';
import type { EngineBackend, WeightSource } from '../shared/protocol';
import type { PackedFeatureMap } from '../shared/packedMaps';

export interface WorkerForwardRequest {
  /** The spec object (JSON-like; a resolved model is re-resolved in the worker). */
  model: ModelSpec | unknown;
  input: Tensor;
  /** Tensors keyed by state_dict names, or how to make them in the worker. */
  weights: WeightMap | WeightSource;
  options?: { backend?: EngineBackend; intermediates?: boolean; fuse?: boolean };
  /**
   * With intermediates: the worker also makes the page's previews of them (at most this many
   * channels a map), all in one buffer (packedMaps.ts), so that the host only passes them on.
   */
  previewChannels?: number;
  /**
   * Names tensor `weights` that do not change from one request to the next (the panel's imported
   * model): the worker keeps the model prepared for them (weights checked and packed once) while
   * the requests name the same model and key. Weights made from a description are kept so without it.
   */
  weightsKey?: string;
  /**
   * Buffers of an earlier run the host no longer needs: a kept model's run writes its values and
   * previews into those of the right size instead of new memory (SharedArrayBuffers, see
   * forkSafe.ts: shared, not transferred; other buffers are transferred).
   */
  spare?: ArrayBufferLike[];
}

/** A forward pass to run, or one to stop (cancelled by the host while other runs go on). */
export type ToEngineWorker = { type: 'forward'; id: number; request: WorkerForwardRequest } | { type: 'cancel'; id: number };

/** An error as it crosses the thread boundary, with the fields the host rebuilds it from. */
export interface WireError {
  name: string;
  message: string;
  layerPath?: string;
  tensor?: string;
  reason?: string;
  path?: string;
  field?: string;
  layerIndex?: number;
}

export type FromEngineWorker =
  | { type: 'progress'; id: number; done: number; total: number }
  | { type: 'result'; id: number; result: WorkerRunResult }
  | { type: 'error'; id: number; error: WireError };

/** A run's result from the worker: with the previews of its intermediates when the request asked for them. */
export type WorkerRunResult = ForwardResult & { featureMaps?: PackedFeatureMap[] };

/** Every distinct ArrayBuffer under these tensors (a buffer listed twice would make postMessage throw). */
export function buffersOf(tensors: Iterable<Tensor | undefined>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of tensors) if (tensor && tensor.data.buffer instanceof ArrayBuffer) buffers.add(tensor.data.buffer);
  return [...buffers];
}
