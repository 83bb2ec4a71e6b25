/**
 * The CPU backend. A {@link CpuPreparedModel} holds what does not change from one run to the
 * next: the plan of each input shape it has seen (BatchNorm folded into the conv weights once),
 * the kernels (with their packed weights) and the activation buffers, which steps reuse as soon
 * as their values are no longer needed (two buffers ping-pong through a plain conv stack). A run
 * goes step by step, with timings, intermediates, progress and cancellation between steps.
 * Model, weights and input must have been validated (forward.ts and preparedModel.ts do it).
 */
import type { ResolvedModel } from '../../shared/spec';
import { elementCount, type Tensor } from '../../shared/tensor';
import { CancelledError } from '../errors';
import type { ForwardOptions, ForwardResult, Intermediate, StepTiming, WeightMap } from '../types';
import { installedCpuKernels, type CpuKernels } from './kernels/cpuKernels';
import { jsKernels } from './kernels/jsKernels';
import { defaultThreadCount } from './wasm/kernelThreads';
import { createPrivateWasmKernels, loadWasmKernels } from './wasm/wasmKernels';
import { buildPlan, type ConvParametersCache, type SkipSlot, type Step } from './plan';

export interface CpuForwardOptions extends ForwardOptions {
  /** Kernels to use instead of the installed ones (tests compare implementations this way). */
  kernels?: CpuKernels;
}

/** What a run reports back besides the output. */
export type CpuRunOptions = Pick<ForwardOptions, 'intermediates' | 'signal' | 'onProgress'>;

/** A plan with an activation buffer assigned to every step's output. */
interface Schedule {
  steps: Step[];
  /** The buffer each step writes; -1 is the caller's input (a reshape of it). */
  outBuffer: number[];
  /** Floats each buffer must hold. */
  capacities: number[];
  /** Plain buffers, kept across runs, for kernels that have no memory of their own. */
  plainBuffers?: Float32Array[];
}

/**
 * Assigns buffers: a step writes into a buffer that holds neither its input nor a value a
 * residual add still needs; a reshape (Flatten, Dropout) keeps its input's buffer.
 */
function scheduleOf(steps: Step[]): Schedule {
  const capacities: number[] = [];
  const outBuffer: number[] = [];
  const saved = new Map<SkipSlot, number>();
  let current = -1;
  for (const step of steps) {
    for (const slot of step.saveInputTo) saved.set(slot, current);
    let out = current;
    if (!step.aliasesInput) {
      const busy = new Set([current, ...saved.values()]);
      out = capacities.findIndex((_, b) => !busy.has(b));
      if (out < 0) out = capacities.push(0) - 1;
      capacities[out] = Math.max(capacities[out]!, elementCount(step.outShape));
    }
    for (const slot of step.release) saved.delete(slot);
    outBuffer.push(out);
    current = out;
  }
  return { steps, outBuffer, capacities };
}

/** A tensor over an activation buffer: `data` is a current view of its first `floats` values. */
function bufferTensor(shape: number[], view: () => Float32Array): Tensor {
  const floats = elementCount(shape);
  let source: Float32Array | undefined;
  let exact: Float32Array | undefined;
  return {
    shape,
    get data() {
      const whole = view();
      if (whole !== source) {
        source = whole;
        exact = whole.length === floats ? whole : whole.subarray(0, floats);
      }
      return exact!;
    },
  };
}

const shapeKey = (shape: readonly number[]) => shape.join('x');

/** Plans kept per prepared model (one per input shape seen, the oldest dropped first). */
const MAX_PLANS = 4;

/**
 * A model ready to run on the CPU: weights validated by the caller, BatchNorm folded once,
 * kernels chosen once. Weights must not change after it is made (see preparedModel.ts).
 */
export class CpuPreparedModel {
  private readonly plans = new Map<string, Schedule>();
  private readonly folded: ConvParametersCache = new Map();

  /**
   * @param oneShot true for `forward()`'s single run: the kernels are told a run starts
   *   (beginRun), so caches keyed by weight arrays start over.
   */
  constructor(
    readonly model: ResolvedModel,
    private readonly weights: WeightMap,
    readonly kernels: CpuKernels,
    private readonly fuse: boolean,
    private readonly oneShot = false,
  ) {}

  /** The schedule for an input shape; the model must have been resolved for it (see resolveForInput). */
  private scheduleFor(model: ResolvedModel): Schedule {
    const key = shapeKey(model.inputShape);
    let schedule = this.plans.get(key);
    if (!schedule) {
      schedule = scheduleOf(buildPlan(model, this.weights, { fuse: this.fuse, folded: this.folded }));
      if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
      this.plans.set(key, schedule);
    }
    return schedule;
  }

  /** Runs the model on an input checked and resolved by the caller (`model` is this model resolved for its shape). */
  run(model: ResolvedModel, input: Tensor, options: CpuRunOptions = {}): ForwardResult {
    const schedule = this.scheduleFor(model);
    const { steps, outBuffer, capacities } = schedule;
    const kernels = this.kernels;
    if (this.oneShot) kernels.beginRun?.();
    let views = kernels.activationBuffers?.(capacities);
    if (!views) {
      schedule.plainBuffers ??= capacities.map((floats) => new Float32Array(floats));
      views = schedule.plainBuffers.map((buffer) => () => buffer);
    }
    const outputs = steps.map((step, i) => (step.aliasesInput ? undefined : bufferTensor(step.outShape, views[outBuffer[i]!]!)));
    const timings: StepTiming[] = [];
    const intermediates: Intermediate[] | undefined = options.intermediates ? [] : undefined;
    let x = input;
    for (let i = 0; i < steps.length; i++) {
      if (options.signal?.aborted) throw new CancelledError();
      const step = steps[i]!;
      for (const slot of step.saveInputTo) slot.tensor = x;
      const start = performance.now();
      x = step.run(x, kernels, outputs[i]!);
      timings.push({ key: step.key, label: step.label, ms: performance.now() - start });
      for (const slot of step.release) slot.tensor = undefined;
      // Buffers are reused by later steps and runs: what leaves the run is a copy.
      if (intermediates) intermediates.push({ key: step.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, tensor: { shape: [...x.shape], data: x.data.slice() } });
      options.onProgress?.(i + 1, steps.length);
    }
    const output = intermediates?.length ? intermediates[intermediates.length - 1]!.tensor : { shape: [...x.shape], data: x.data.slice() };
    return { output, intermediates, timings, backend: `cpu (${kernels.name})` };
  }
}

/**
 * The kernels a new prepared model runs on: those passed or installed, else WebAssembly SIMD
 * kernels with a memory of their own (its packed weights and buffers belong to this model alone),
 * else the plain-JS ones.
 */
export async function kernelsForPreparedModel(kernels?: CpuKernels, threads?: number): Promise<CpuKernels> {
  // The shared instance also installs the SIMD NaN/Inf scan that checks every run's input.
  await loadWasmKernels();
  return kernels ?? installedCpuKernels() ?? (await createPrivateWasmKernels(await threadCount(threads))) ?? jsKernels;
}

/** The thread count asked for, checked, or the default. */
export async function threadCount(threads: number | undefined): Promise<number> {
  if (threads === undefined) return defaultThreadCount();
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  return threads;
}

/** The most threads a run may ask for: more than any step can use. */
export const MAX_THREADS = 64;

/** `forward()` on the CPU: a prepared model for one run, on the shared kernels. */
export async function forwardCpu(model: ResolvedModel, weights: WeightMap, input: Tensor, options: CpuForwardOptions = {}): Promise<ForwardResult> {
  // WebAssembly SIMD where the runtime has it and the bundle embeds the kernels, plain JS otherwise.
  const kernels = options.kernels ?? installedCpuKernels() ?? (await loadWasmKernels(await threadCount(options.threads))) ?? (await loadWasmKernels()) ?? jsKernels;
  return new CpuPreparedModel(model, weights, kernels, options.fuse ?? true, true).run(model, input, options);
}
