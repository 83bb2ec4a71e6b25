/**
 * The engine's public types: what `forward()` takes and returns, shared by the CPU and WebGPU
 * backends. Imports neither `vscode` nor the DOM (GPUDevice is a type only).
 */
import type { LeafInfo, ModelSpec, ResolvedModel } from '../shared/spec';
import type { EngineBackend } from '../shared/protocol';
import type { Tensor } from '../shared/tensor';

export type { Tensor };

/** Weights keyed by PyTorch `state_dict` names ("0.weight", "3.conv.1.1.running_var", ...). */
export type WeightMap = Record<string, Tensor>;

export interface ForwardOptions {
  /** Default "cpu". */
  backend?: EngineBackend;
  /** Return the output of every step (see {@link Intermediate}). Default false. */
  intermediates?: boolean;
  /**
   * Fuse conv + BatchNorm (folded into the weights) + activation + residual add into one step.
   * Default true. With false every leaf module runs on its own and reports its own output
   * (slower; what the feature map view uses to show "the conv alone" vs "after BN").
   */
  fuse?: boolean;
  /** Checked between steps; an aborted run rejects with a {@link CancelledError}. */
  signal?: AbortSignal;
  /** Called after every step with the number of steps done and the total. */
  onProgress?(done: number, total: number): void;
  /** WebGPU only: the device to run on. The engine never creates or destroys it. */
  device?: GPUDevice;
  /**
   * CPU only: threads a step may be split over, the calling thread included. Default: the cores
   * this runtime reports, at most 8, where shared memory exists (Node, cross-origin isolated
   * pages); 1 elsewhere. Results are equal bit for bit at every thread count.
   */
  threads?: number;
}

/** One executed step's output. A step is one leaf module, or a fused group of leaves. */
export interface Intermediate {
  /**
   * state_dict prefix of the last leaf of the step ("3.conv.1.2"), or of the residual block
   * ("3") when the step ends with its skip add: the key of the module whose output this is
   * ("<node>:<i>" for the i-th output of a Split).
   */
  key: string;
  /** Every leaf the step covers, in order (["3.conv.1.0", "3.conv.1.1", "3.conv.1.2"]). */
  leafKeys: string[];
  /** For people: "Conv2d 3x3 depthwise + BatchNorm2d (folded) + ReLU6 + skip add". */
  label: string;
  /** Top-level layer index in the spec (the node's index in the graph form). */
  layerIndex: number;
  /** The role of the step's first leaf: "depthwise", "pointwise", "batchnorm", ... */
  role: LeafInfo['role'] | 'add' | 'scale';
  tensor: Tensor;
}

export interface StepTiming {
  key: string;
  label: string;
  ms: number;
}

export interface ForwardResult {
  /** The model's output (the first, when a graph-form model lists several). */
  output: Tensor;
  /** Every model output in order, when the model has more than one. */
  outputs?: Tensor[];
  intermediates?: Intermediate[];
  timings: StepTiming[];
  /** The backend that ran, with detail ("cpu (js)", "webgpu"). */
  backend: string;
}

/** A model as `forward()` accepts it: the spec object or an already resolved model. */
export type ModelInput = ModelSpec | ResolvedModel | unknown;
