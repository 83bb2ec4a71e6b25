/**
 * The CPU backend. A {@link CpuPreparedModel} holds what does not change from one run to the
 * next: the plan of each input shape it has seen (BatchNorm folded into the conv weights once),
 * the kernels (with their packed weights) and the activation buffers, one per slot of the
 * planner, which reuses a buffer as soon as its value is no longer needed (two buffers ping-pong
 * through a plain conv stack). A run
 * goes step by step, with timings, intermediates, progress and cancellation between steps.
 * Model, weights and input must have been validated (forward.ts and preparedModel.ts do it).
 */
import type { ResolvedModel } from '../../shared/spec';
import { elementCount, type Tensor } from '../../shared/tensor';
import { CancelledError } from '../errors';
import { freshCopy } from '../freshCopy';
import { firstNonFinite, throwIfNonFinite } from '../weights';
import type { ForwardOptions, ForwardResult, Intermediate, StepTiming, WeightMap } from '../types';
import { installedCpuKernels, type CpuKernels } from './kernels/cpuKernels';
import { jsKernels } from './kernels/jsKernels';
import { defaultThreadCount } from './wasm/kernelThreads';
import { createPrivateWasmKernels, loadWasmKernels } from './wasm/wasmKernels';
import { buildPlan, reshaped, type ConvParametersCache, type CpuPlan } from './plan';

export interface CpuForwardOptions extends ForwardOptions {
  /** Kernels to use instead of the installed ones (tests compare implementations this way). */
  kernels?: CpuKernels;
}

/** What a run reports back besides the output. */
export type CpuRunOptions = Pick<ForwardOptions, 'intermediates' | 'signal' | 'onProgress'> & {
  /**
   * The arrays the run's returned values (outputs, intermediates) are copied into, asked for by
   * length: arrays of earlier runs handed back for reuse, say (the playground's worker does: new
   * memory costs its first writes). Default: new arrays. Each must be the caller's own.
   */
  arrays?(floats: number): Float32Array;
};

/** A compiled plan with the capacity of each of the planner's buffer slots. */
interface Schedule extends CpuPlan {
  /** Floats each slot's buffer must hold: the largest value the planner put in it. */
  capacities: number[];
  /** Plain buffers, kept across runs, for kernels that have no memory of their own. */
  plainBuffers?: Float32Array[];
}

function scheduleOf(compiled: CpuPlan): Schedule {
  const { plan } = compiled;
  const capacities = new Array<number>(plan.slotCount).fill(0);
  plan.graph.values.forEach((value, id) => {
    const slot = plan.slotOf[id]!;
    if (slot >= 0) capacities[slot] = Math.max(capacities[slot]!, elementCount(value.shape));
  });
  return { ...compiled, capacities };
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

/**
 * A run gives the event loop a turn at least this often, ms: timers (an AbortSignal.timeout, a
 * cancel button's message) are seen mid-run, for a cost of one turn per slice.
 */
const TIME_SLICE_MS = 10;

/** Lets the event loop run: setImmediate in Node, a MessageChannel in browsers and workers, else a timer. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else if (typeof MessageChannel === 'function') {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(undefined);
    } else setTimeout(resolve, 0);
  });
}

/**
 * Runs on one set of kernels, one at a time: their activation buffers and caches serve one run, and
 * a run that yields (see TIME_SLICE_MS) must find them as it left them.
 */
const queues = new WeakMap<CpuKernels, { tail: Promise<unknown>; waiting: number }>();
function exclusive<T>(kernels: CpuKernels, job: () => Promise<T>): Promise<T> {
  let queue = queues.get(kernels);
  if (!queue) queues.set(kernels, (queue = { tail: Promise.resolve(), waiting: 0 }));
  const own = queue;
  own.waiting++;
  const result = own.tail.then(job, job);
  own.tail = result
    .catch(() => undefined)
    .finally(() => {
      own.waiting--;
    });
  return result;
}

/** Whether a run on `kernels` is under way or waiting for its turn. */
function busy(kernels: CpuKernels): boolean {
  return (queues.get(kernels)?.waiting ?? 0) > 0;
}

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

  /**
   * Runs the model on an input checked and resolved by the caller (`model` is this model resolved
   * for its shape). Runs on the same kernels take turns; a run gives the event loop a turn every
   * TIME_SLICE_MS and stops with a CancelledError at the next step once `options.signal` aborts.
   */
  run(model: ResolvedModel, input: Tensor, options: CpuRunOptions = {}): Promise<ForwardResult> {
    return exclusive(this.kernels, () => this.runNow(model, input, options));
  }

  /**
   * Runs on a copy of `input` made in the kernels' own memory (one copy, no copy in by the first
   * step), where it is scanned for NaN and infinities; `input` is checked but for that scan, and
   * `model` resolved for it. The copy is taken at the call when no other run holds the kernels,
   * else a plain copy is taken at the call and moved in when this run's turn comes.
   * @throws EngineInputError (rejects) for a NaN or infinity, as the input check would have
   */
  runOnCopy(model: ResolvedModel, input: Tensor, options: CpuRunOptions = {}): Promise<ForwardResult> {
    const shape = [...input.shape];
    if (this.oneShot || !this.kernels.activationBuffers) {
      const copy = freshCopy(input.data);
      throwIfNonFinite(shape, copy, firstNonFinite(copy));
      return this.run(model, { shape, data: copy }, options);
    }
    if (!busy(this.kernels)) {
      let taken: Tensor;
      try {
        taken = this.takeInput(model, shape, input.data);
      } catch (error) {
        return Promise.reject(error);
      }
      return exclusive(this.kernels, () => this.runNow(model, taken, options, true));
    }
    const copy = freshCopy(input.data);
    return exclusive(this.kernels, () => this.runNow(model, this.takeInput(model, shape, copy), options, true));
  }

  /** Copies `data` into the input buffer of the run of `model` (see buffersOf) and scans it there. */
  private takeInput(model: ResolvedModel, shape: number[], data: Float32Array): Tensor {
    const view = this.buffersOf(this.scheduleFor(model), true).input!;
    const slot = view();
    slot.set(data);
    // Woken here, the kernels' threads are up when the first step comes (after the scan), without
    // spinning through the copy (which they slow down on a machine whose cores share more than memory).
    this.kernels.wake?.();
    throwIfNonFinite(shape, slot, this.kernels.firstNonFinite?.(slot) ?? firstNonFinite(slot));
    return bufferTensor(shape, view);
  }

  /**
   * The activation buffers of a run of `schedule`, and with `withInput` one more for its input,
   * after them. The kernels hand out the same buffers as long as they are asked for the same sizes.
   */
  private buffersOf(schedule: Schedule, withInput: boolean): { views: Array<() => Float32Array>; input?: () => Float32Array } {
    const inputFloats = elementCount(schedule.plan.graph.values[schedule.plan.graph.input]!.shape);
    const views = this.kernels.activationBuffers?.(withInput ? [...schedule.capacities, inputFloats] : schedule.capacities);
    if (views) return withInput ? { views: views.slice(0, -1), input: views[views.length - 1] } : { views };
    schedule.plainBuffers ??= schedule.capacities.map((floats) => new Float32Array(floats));
    return { views: schedule.plainBuffers.map((buffer) => () => buffer) };
  }

  private async runNow(model: ResolvedModel, input: Tensor, options: CpuRunOptions, inputTaken = false): Promise<ForwardResult> {
    if (options.signal?.aborted) throw new CancelledError();
    const schedule = this.scheduleFor(model);
    const { plan, runners } = schedule;
    const { graph, steps } = plan;
    const kernels = this.kernels;
    if (this.oneShot) kernels.beginRun?.();
    const { views } = this.buffersOf(schedule, inputTaken);
    const values: Tensor[] = new Array<Tensor>(graph.values.length);
    values[graph.input] = input;
    /** A value as it leaves the run: a copy (buffers are reused by later steps and runs), where the caller wants it. */
    const copyOut = (data: Float32Array): Float32Array => {
      const out = options.arrays?.(data.length);
      if (!out) return freshCopy(data);
      if (out.length !== data.length) throw new Error(`internal: options.arrays gave ${out.length} floats for ${data.length}`);
      out.set(data);
      return out;
    };
    const timings: StepTiming[] = [];
    const intermediates: Intermediate[] | undefined = options.intermediates ? [] : undefined;
    let sliceStart = performance.now();
    for (let i = 0; i < steps.length; i++) {
      if (performance.now() - sliceStart >= TIME_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
      if (options.signal?.aborted) throw new CancelledError();
      const step = steps[i]!;
      const start = performance.now();
      if (step.view) {
        values[step.outputs[0]!] = reshaped(values[step.reads[0]!]!, graph.values[step.outputs[0]!]!.shape);
      } else {
        const outputs = step.outputs.map((id) => (values[id] = bufferTensor(graph.values[id]!.shape, views[plan.slotOf[id]!]!)));
        runners[i]!(
          step.reads.map((id) => values[id]!),
          kernels,
          outputs,
        );
      }
      timings.push({ key: step.key, label: step.label, ms: performance.now() - start });
      // Buffers are reused by later steps and runs: what leaves the run is a copy.
      if (intermediates) {
        step.outputs.forEach((id, j) => {
          const x = values[id]!;
          const key = step.outputs.length > 1 ? `${step.key}:${j}` : step.key;
          intermediates.push({
            key,
            leafKeys: step.leafKeys,
            label: step.label,
            layerIndex: step.layerIndex,
            role: step.role,
            tensor: { shape: [...x.shape], data: copyOut(x.data) },
          });
        });
      }
      options.onProgress?.(i + 1, steps.length);
    }
    kernels.park?.();
    const outputs = graph.outputs.map((id) => ({ shape: [...values[id]!.shape], data: copyOut(values[id]!.data) }));
    return { output: outputs[0]!, ...(outputs.length > 1 ? { outputs } : {}), intermediates, timings, backend: `cpu (${kernels.name})` };
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
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
    throw new RangeError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  return threads;
}

/** The most threads a run may ask for: more than any step can use. */
export const MAX_THREADS = 64;

/** `forward()` on the CPU: a prepared model for one run, on the shared kernels. */
export async function forwardCpu(model: ResolvedModel, weights: WeightMap, input: Tensor, options: CpuForwardOptions = {}): Promise<ForwardResult> {
  // WebAssembly SIMD where the runtime has it and the bundle embeds the kernels, plain JS otherwise.
  const kernels =
    options.kernels ?? installedCpuKernels() ?? (await loadWasmKernels(await threadCount(options.threads))) ?? (await loadWasmKernels()) ?? jsKernels;
  return new CpuPreparedModel(model, weights, kernels, options.fuse ?? true, true).run(model, input, options);
}
