/**
 * Messages between the page and its engine Web Worker (webview/engineWorker.ts). Internal to the
 * page: both ends are the same bundle's code, so they are typed but not validated.
 */
import type { EngineBackend, RunResult, WeightsSource, WireTensor } from '../src/shared/protocol';
import type { ModelSpec } from '../src/shared/spec';

/** Weights as the worker gets them: a source it can make itself, or the bytes of a .safetensors file. */
export type WorkerWeights = Exclude<WeightsSource, { kind: 'safetensors' }> | { kind: 'safetensors'; name: string; bytes: ArrayBuffer };

export interface WebGpuProbe {
  available: boolean;
  /** Adapter description, or why there is none. */
  description: string;
  /** A software adapter (SwiftShader): correct, but slower than the CPU engine. */
  software: boolean;
}

export type ToWorker =
  | { type: 'probe'; id: number }
  | { type: 'run'; id: number; backend: EngineBackend; model: ModelSpec; input: WireTensor; weights: WorkerWeights };

export type FromWorker =
  | { type: 'probe'; id: number; webgpu: WebGpuProbe }
  | { type: 'progress'; id: number; done: number; total: number; label: string }
  | { type: 'result'; id: number; result: RunResult }
  | { type: 'error'; id: number; error: string };
