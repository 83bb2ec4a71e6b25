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
export type CpuRunOptions = Pick<ForwardOptions, 'intermediates' | 'signal' | 'onProgress'>;

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
const queues = new WeakMap<CpuKernels, Promise<unknown>>();
function exclusive<T>(kernels: CpuKernels, job: () => Promise<T>): Promise<T> {
  const previous = queues.get(kernels) ?? Promise.resolve();
  const result = previous.then(job, job);
  queues.set(
    kernels,
    result.catch(() => undefined),
  );
  return result;
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

  private async runNow(model: ResolvedModel, input: Tensor, options: CpuRunOptions): Promise<ForwardResult> {
    if (options.signal?.aborted) throw new CancelledError();
    const schedule = this.scheduleFor(model);
    const { plan, runners, capacities } = schedule;
    const { graph, steps } = plan;
    const kernels = this.kernels;
    if (this.oneShot) kernels.beginRun?.();
    let views = kernels.activationBuffers?.(capacities);
    if (!views) {
      schedule.plainBuffers ??= capacities.map((floats) => new Float32Array(floats));
      views = schedule.plainBuffers.map((buffer) => () => buffer);
    }
    const values: Tensor[] = new Array<Tensor>(graph.values.length);
    values[graph.input] = input;
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
            tensor: { shape: [...x.shape], data: x.data.slice() },
          });
        });
      }
      options.onProgress?.(i + 1, steps.length);
    }
    const outputs = graph.outputs.map((id) => ({ shape: [...values[id]!.shape], data: values[id]!.data.slice() }));
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
