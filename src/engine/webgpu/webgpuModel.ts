/**
 * A model compiled for one GPUDevice. The planner (graph/planner.ts) decides the steps, their
 * fusion and which values share a buffer; each step is encoded by its op's file (ops.ts picks
 * it: conv2d.ts, linear.ts, elementwise.ts, ...), which chooses the program variant, packs the
 * weights and fills the uniforms. This class owns what lives on the device: the weights
 * (uploaded once, resident until dispose), the activation buffers (one per planner slot, from the
 * device's pool), the uniforms, the pipelines and bind groups. A run is one writeBuffer (the
 * input as the caller holds it), one submit and one readback; the layout changes between the
 * caller's row-major order and the steps' padded NHWC are dispatches of their own, on the GPU.
 */
import { parameterShapes, type ResolvedModel } from '../../shared/spec';
import { elementCount } from '../../shared/tensor';
import { lowerModel, type ValueId } from '../graph/graph';
import { planGraph, type Plan } from '../graph/planner';
import type { Intermediate, StepTiming } from '../types';
import { BufferPool, bufferPoolFor } from './bufferPool';
import { layoutOf, valueBytes, type DepthwiseStrategy, type EncodeContext, type GemmStrategy } from './encoding';
import { COPY_DST, COPY_SRC, MAP_MODE_READ, MAP_READ, QUERY_RESOLVE, STORAGE, UNIFORM } from './gpuConstants';
import { encodeStep, isGpuView } from './ops';
import { getPipeline, type CompiledProgram } from './pipelineCache';
import type { Program } from './program';
import { fromLogicalProgram, toLogicalProgram, type Layout } from './repack';
import { firstNonFinite } from '../weights';
import { freshCopy } from '../freshCopy';
import type { Tensor } from '../../shared/tensor';

export type { DepthwiseStrategy, GemmStrategy };
import { isSoftwareAdapter } from '../softwareAdapter';

/** Bytes between two programs' uniforms: the largest minUniformBufferOffsetAlignment WebGPU allows. */
const UNIFORM_STRIDE = 256;
const DEFAULT_TIMEOUT_MS = 120_000;

export interface StageTiming {
  /** The dispatch's label: the step's leaf keys joined with "+" ("3.0+3.1+3.2"). */
  name: string;
  /** The plan step the dispatch belongs to (a step may take several: a layout change, batch statistics). */
  step: number;
  /** GPU time from timestamp queries. */
  ms: number;
}

export interface WebGPURunResult {
  output: Tensor;
  /** Every model output, in order. */
  outputs: Tensor[];
  /** Every step's outputs in execution order, when the run asked for them. */
  intermediates?: Intermediate[];
  timings: {
    /** Wall time of the run: upload, GPU work, readback. */
    totalMs: number;
    /** Per dispatch, when the device has timestamp queries; empty otherwise. */
    stages: StageTiming[];
    /** Per plan step: the GPU time of its dispatches (empty without timestamp queries). */
    steps: StepTiming[];
    /** Whether the device has timestamp queries (a model of no dispatches has no stages either way). */
    timestamps: boolean;
  };
}

export interface CompileOptions {
  /** false: every module is its own step. Default true. */
  fuse?: boolean;
  gemm?: GemmStrategy;
  depthwise?: DepthwiseStrategy;
}

/** Whether a device is a CPU emulation (SwiftShader, llvmpipe, WARP), from its adapter info. */
export function isCpuEmulated(device: GPUDevice): boolean {
  return isSoftwareAdapter((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo);
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Milliseconds to wait for the GPU before giving up. Default 120 s. */
  timeoutMs?: number;
  /** Read back every step's outputs too (see {@link WebGPURunResult.intermediates}). Default false. */
  intermediates?: boolean;
}

/** A GPU run failed (validation, out of memory, lost device, timeout); the message says which. */
export class WebGPURunError extends Error {
  constructor(
    message: string,
    readonly deviceLost = false,
  ) {
    super(message);
    this.name = 'WebGPURunError';
  }
}

interface Dispatch {
  program: Program;
  /** The plan step it belongs to. */
  step: number;
  compiled: CompiledProgram;
  bindGroup: GPUBindGroup;
}

/**
 * Where a run puts the values it returns: each in logical (row-major) order, written by a
 * layout-conversion dispatch right after the step that makes it (a later step may reuse its
 * buffer) into one storage buffer, copied to the mappable staging buffer at the end.
 */
interface Readout {
  /** Storage buffer the conversions write. */
  buffer: GPUBuffer;
  /** Mappable copy of `buffer`, then the timestamps. */
  staging: GPUBuffer;
  /** Bytes of the values (the timestamps follow). */
  bytes: number;
  /** Byte offset of each value, by value id. */
  offsets: Map<ValueId, number>;
  /** The conversion dispatches, each after plan step `after`. */
  conversions: Array<{ after: number; dispatch: Dispatch }>;
  timestampOffset: number;
  stagingBytes: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkTensor(name: string, tensor: Tensor | undefined, shape: number[], what: string): void {
  if (!tensor || !Array.isArray(tensor.shape) || !(tensor.data instanceof Float32Array)) {
    throw new Error(`${what} "${name}" is missing (expected shape [${shape.join(', ')}])`);
  }
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what} "${name}" has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const count = elementCount(shape);
  if (tensor.data.length !== count) throw new Error(`${what} "${name}" has ${tensor.data.length} values for shape [${shape.join(', ')}] (${count})`);
}

/** Bytes of a layout's values in logical order, unpadded. */
function logicalBytes(layout: Layout): number {
  return 4 * (layout.kind === 'nhwc' ? layout.n * layout.c * layout.h * layout.w : layout.rows * layout.cols);
}

export class WebGPUModel {
  private readonly owned: GPUBuffer[] = [];
  private readonly pooled: GPUBuffer[] = [];
  private dispatches: Dispatch[] = [];
  /** The buffer of each planner slot. */
  private slots: GPUBuffer[] = [];
  private querySet: GPUQuerySet | undefined;
  private queryBuffer: GPUBuffer | undefined;
  private readonly readouts = new Map<boolean, Promise<Readout>>();
  /** The run's input as the caller holds it (logical order), and the dispatch that lays it out for the first step. */
  private rawInput: GPUBuffer | undefined;
  private inputDispatch: Dispatch | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lost = false;
  private disposed = false;
  private gemmStrategy: Exclude<GemmStrategy, 'auto'> = 'workgroup';
  private depthwiseStrategy: Exclude<DepthwiseStrategy, 'auto'> = 'workgroup';

  private constructor(
    readonly device: GPUDevice,
    readonly model: ResolvedModel,
    readonly plan: Plan,
    private readonly weights: Record<string, Tensor>,
  ) {
    void device.lost.then(() => {
      this.lost = true;
    });
  }

  /** Validates the weights, plans the steps, compiles the programs and uploads the weights. */
  static async create(device: GPUDevice, model: ResolvedModel, weights: Record<string, Tensor>, options: CompileOptions = {}): Promise<WebGPUModel> {
    if (!weights || typeof weights !== 'object') throw new Error('weights must map state_dict names to {shape, data}');
    for (const spec of parameterShapes(model)) checkTensor(spec.key, weights[spec.key], spec.shape, 'weight');
    const plan = planGraph(lowerModel(model), { fuse: options.fuse ?? true, inputSlot: true, isView: isGpuView });
    const compiled = new WebGPUModel(device, model, plan, weights);
    const emulated = isCpuEmulated(device);
    const strategy = options.gemm ?? 'auto';
    compiled.gemmStrategy = strategy === 'auto' ? (emulated ? 'registers' : 'workgroup') : strategy;
    const depthwise = options.depthwise ?? 'auto';
    compiled.depthwiseStrategy = depthwise === 'auto' ? (emulated ? 'registers' : 'workgroup') : depthwise;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      await compiled.build();
    } catch (error) {
      await device.popErrorScope();
      await device.popErrorScope();
      compiled.dispose();
      throw error;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (validation || oom) {
      compiled.dispose();
      throw new WebGPURunError(
        oom ? `out of GPU memory while preparing "${model.name}": ${oom.message}` : `WebGPU rejected the model setup: ${validation!.message}`,
      );
    }
    return compiled;
  }

  /** The dispatches' labels, in order: a step's leaf keys joined with "+". */
  get stageNames(): string[] {
    return this.dispatches.map((d) => d.program.label);
  }

  private upload(data: Float32Array, label: string): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE | COPY_DST, label });
    this.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    this.owned.push(buffer);
    return buffer;
  }

  private async build(): Promise<void> {
    const { device, plan } = this;
    const { graph } = plan;
    const pool = bufferPoolFor(device);
    // One buffer per slot, as large as the largest value the planner put in it.
    const slotBytes = new Array<number>(plan.slotCount).fill(16);
    graph.values.forEach((value, id) => {
      const slot = plan.slotOf[id]!;
      if (slot >= 0) slotBytes[slot] = Math.max(slotBytes[slot]!, valueBytes(value.shape));
    });
    this.slots = slotBytes.map((bytes) => {
      const buffer = pool.acquire(BufferPool.bucket(bytes), STORAGE | COPY_SRC | COPY_DST, 'activation');
      this.pooled.push(buffer);
      return buffer;
    });

    const encoded: Array<{ program: Program; buffers: GPUBufferBinding[]; step: number }> = [];
    plan.steps.forEach((step, index) => {
      if (step.view) return;
      const ctx: EncodeContext = {
        device,
        graph,
        step,
        weights: this.weights,
        label: (step.leafKeys.includes(step.key) ? step.leafKeys : [...step.leafKeys, step.key]).join('+'),
        gemm: this.gemmStrategy,
        depthwise: this.depthwiseStrategy,
        buffer: (value) => ({ buffer: this.bufferOf(value) }),
        upload: (data, label) => this.upload(data, label),
        scratch: (bytes, label) => {
          const buffer = device.createBuffer({ size: Math.max(16, bytes), usage: STORAGE, label });
          this.owned.push(buffer);
          return buffer;
        },
      };
      for (const dispatch of encodeStep(ctx)) encoded.push({ ...dispatch, step: index });
    });

    if (device.features.has('timestamp-query') && encoded.length > 0) {
      this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * encoded.length });
      this.queryBuffer = device.createBuffer({ size: 16 * encoded.length, usage: QUERY_RESOLVE | COPY_SRC });
      this.owned.push(this.queryBuffer);
    }

    const inputLayout = layoutOf(graph.values[graph.input]!.shape);
    this.rawInput = device.createBuffer({ size: Math.max(16, logicalBytes(inputLayout)), usage: STORAGE | COPY_DST, label: 'input' });
    this.owned.push(this.rawInput);
    const input = { program: fromLogicalProgram(inputLayout), buffers: [{ buffer: this.rawInput }, { buffer: this.bufferOf(graph.input) }], step: -1 };
    const dispatches = await this.compileDispatches([...encoded, input]);
    this.inputDispatch = dispatches.pop();
    this.dispatches = dispatches;
    await this.readoutFor(false);
  }

  /** Pipelines, uniforms (one buffer for the list) and bind groups of encoded programs. */
  private async compileDispatches(encoded: Array<{ program: Program; buffers: GPUBufferBinding[]; step: number }>): Promise<Dispatch[]> {
    const { device } = this;
    const uniformData = new ArrayBuffer(Math.max(1, encoded.length) * UNIFORM_STRIDE);
    encoded.forEach(({ program }, i) => {
      const view = new Int32Array(uniformData, i * UNIFORM_STRIDE, program.uniforms.length || 1);
      program.uniforms.forEach(([, value], j) => {
        view[j] = value;
      });
    });
    const uniformBuffer = device.createBuffer({ size: uniformData.byteLength, usage: UNIFORM | COPY_DST, label: 'uniforms' });
    device.queue.writeBuffer(uniformBuffer, 0, uniformData);
    this.owned.push(uniformBuffer);
    const compiled = await Promise.all(encoded.map(({ program }) => getPipeline(device, program)));
    return encoded.map(({ program, buffers, step }, i) => ({
      program,
      step,
      compiled: compiled[i]!,
      bindGroup: device.createBindGroup({
        layout: compiled[i]!.layout,
        entries: [
          { binding: 0, resource: { buffer: uniformBuffer, offset: i * UNIFORM_STRIDE, size: Math.max(4, program.uniforms.length * 4) } },
          ...buffers.map((resource, j) => ({ binding: j + 1, resource })),
        ],
      }),
    }));
  }

  private bufferOf(value: ValueId): GPUBuffer {
    const slot = this.plan.slotOf[value]!;
    if (slot < 0) throw new Error(`internal: value ${this.plan.graph.values[value]!.name} has no buffer`);
    return this.slots[slot]!;
  }

  /** The readout of the outputs (and, with `intermediates`, of every step's outputs), made on first use. */
  private readoutFor(intermediates: boolean): Promise<Readout> {
    let readout = this.readouts.get(intermediates);
    if (!readout) {
      readout = this.makeReadout(intermediates);
      this.readouts.set(intermediates, readout);
      readout.catch(() => this.readouts.delete(intermediates));
    }
    return readout;
  }

  private async makeReadout(intermediates: boolean): Promise<Readout> {
    const { device, plan } = this;
    const { graph } = plan;
    const lastStep = plan.steps.length - 1;
    // Each value once, converted after the step that makes it; outputs that are not among the
    // intermediates after the last step (they keep their buffers to the end: the planner never reuses them).
    const after = new Map<ValueId, number>();
    if (intermediates) for (const item of plan.intermediates) if (!after.has(item.value)) after.set(item.value, item.step);
    for (const value of graph.outputs) if (!after.has(value)) after.set(value, lastStep);
    const offsets = new Map<ValueId, number>();
    let bytes = 0;
    for (const value of [...graph.outputs, ...after.keys()]) {
      if (offsets.has(value)) continue;
      offsets.set(value, bytes);
      bytes += logicalBytes(layoutOf(graph.values[value]!.shape));
    }
    const buffer = device.createBuffer({ size: Math.max(16, bytes), usage: STORAGE | COPY_SRC, label: 'readout' });
    this.owned.push(buffer);
    // Timestamps are 64-bit: read through a BigInt64Array, they start on a multiple of 8.
    const timestampOffset = Math.ceil(bytes / 8) * 8;
    const stagingBytes = timestampOffset + (this.querySet ? 16 * this.dispatches.length : 0);
    const staging = device.createBuffer({ size: Math.max(16, stagingBytes), usage: MAP_READ | COPY_DST, label: 'readback' });
    this.owned.push(staging);
    const order = [...after];
    const dispatches = await this.compileDispatches(
      order.map(([value, step]) => ({
        program: toLogicalProgram(layoutOf(graph.values[value]!.shape), offsets.get(value)! / 4),
        buffers: [{ buffer: this.bufferOf(value) }, { buffer }],
        step,
      })),
    );
    const conversions = dispatches.map((dispatch, i) => ({ after: order[i]![1], dispatch }));
    return { buffer, staging, bytes, offsets, conversions, timestampOffset, stagingBytes };
  }

  /** Runs one forward pass. Runs on the same model queue up one after another. */
  run(input: Tensor, options: RunOptions = {}): Promise<WebGPURunResult> {
    const result = this.queue.then(() => this.runNow(input, options));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runNow(input: Tensor, options: RunOptions): Promise<WebGPURunResult> {
    if (this.disposed) throw new WebGPURunError('this compiled model was disposed');
    if (this.lost) throw new WebGPURunError('the WebGPU device was lost; a new device is needed', true);
    options.signal?.throwIfAborted();
    checkTensor('input', input, this.model.inputShape, 'the input');
    const bad = firstNonFinite(input.data);
    if (bad >= 0) throw new Error(`the input has a non-finite value (${input.data[bad]}) at flat index ${bad}`);
    const started = performance.now();
    const { device, plan } = this;
    const { graph } = plan;
    const withIntermediates = options.intermediates === true;
    const readout = await this.readoutFor(withIntermediates);
    options.signal?.throwIfAborted();
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    // The input goes up as it is; a dispatch lays it out on the GPU (no transposition on the CPU).
    device.queue.writeBuffer(this.rawInput!, 0, input.data as Float32Array<ArrayBuffer>);
    const encoder = device.createCommandEncoder();
    const dispatch = (d: Dispatch, timestamp?: number) => {
      const pass = encoder.beginComputePass(
        this.querySet && timestamp !== undefined
          ? {
              label: d.program.label,
              timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * timestamp, endOfPassWriteIndex: 2 * timestamp + 1 },
            }
          : { label: d.program.label },
      );
      pass.setPipeline(d.compiled.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.program.dispatch);
      pass.end();
    };
    dispatch(this.inputDispatch!);
    let next = 0;
    let conversion = 0;
    plan.steps.forEach((_, index) => {
      for (; next < this.dispatches.length && this.dispatches[next]!.step === index; next++) dispatch(this.dispatches[next]!, next);
      // Returned values are read out right after their step: a later step may reuse the buffer.
      for (; conversion < readout.conversions.length && readout.conversions[conversion]!.after === index; conversion++) {
        dispatch(readout.conversions[conversion]!.dispatch);
      }
    });
    encoder.copyBufferToBuffer(readout.buffer, 0, readout.staging, 0, readout.bytes);
    if (this.querySet && this.queryBuffer) {
      encoder.resolveQuerySet(this.querySet, 0, 2 * this.dispatches.length, this.queryBuffer, 0);
      encoder.copyBufferToBuffer(this.queryBuffer, 0, readout.staging, readout.timestampOffset, 16 * this.dispatches.length);
    }
    device.queue.submit([encoder.finish()]);
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new WebGPURunError(`out of GPU memory running "${this.model.name}": ${oom.message}`);
    if (validation) throw new WebGPURunError(`WebGPU rejected the run of "${this.model.name}": ${validation.message}`);

    // Each returned tensor gets an array of its own (callers may transfer it), copied straight from the mapped range.
    const { values, times } = await this.readback(readout, options, (mapped) => ({
      values: new Map(
        [...readout.offsets].map(([value, offset]) => [value, freshCopy(new Float32Array(mapped, offset, elementCount(graph.values[value]!.shape)))]),
      ),
      times: this.querySet ? new BigInt64Array(mapped, readout.timestampOffset, 2 * this.dispatches.length).slice() : undefined,
    }));
    const read = (value: ValueId): Tensor => ({ shape: [...graph.values[value]!.shape], data: values.get(value)! });
    const outputs = graph.outputs.map(read);
    const intermediates: Intermediate[] | undefined = withIntermediates
      ? plan.intermediates.map((item) => {
          const step = plan.steps[item.step]!;
          // A value listed twice (an output also among the intermediates) gets a copy of its own each time.
          const tensor = graph.outputs.includes(item.value) ? { ...read(item.value), data: freshCopy(values.get(item.value)!) } : read(item.value);
          return { key: item.key, leafKeys: step.leafKeys, label: step.label, layerIndex: step.layerIndex, role: step.role, tensor };
        })
      : undefined;
    const stages: StageTiming[] = [];
    const stepMs = new Float64Array(plan.steps.length);
    if (times) {
      this.dispatches.forEach((d, i) => {
        const ms = Number(times[2 * i + 1]! - times[2 * i]!) / 1e6;
        stages.push({ name: d.program.label, step: d.step, ms });
        stepMs[d.step] = stepMs[d.step]! + ms;
      });
    }
    const steps: StepTiming[] = this.querySet ? plan.steps.map((step, i) => ({ key: step.key, label: step.label, ms: stepMs[i]! })) : [];
    return {
      output: outputs[0]!,
      outputs,
      ...(intermediates ? { intermediates } : {}),
      timings: { totalMs: performance.now() - started, stages, steps, timestamps: device.features.has('timestamp-query') },
    };
  }

  /** Maps the readout's staging buffer and returns what `extract` takes from it before it is unmapped. */
  private async readback<T>(readout: Readout, options: RunOptions, extract: (mapped: ArrayBuffer) => T): Promise<T> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const { staging, stagingBytes } = readout;
    const mapped = staging.mapAsync(MAP_MODE_READ, 0, stagingBytes);
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WebGPURunError(`the GPU did not finish "${this.model.name}" within ${timeoutMs} ms`)), timeoutMs);
      onAbort = () => reject(options.signal!.reason ?? new Error('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      void this.device.lost.then((info) => reject(new WebGPURunError(`the WebGPU device was lost during the run: ${info.message || info.reason}`, true)));
    });
    let landed = false;
    try {
      await Promise.race([mapped, stop]);
      landed = true;
      try {
        return extract(staging.getMappedRange(0, stagingBytes));
      } finally {
        staging.unmap();
      }
    } catch (error) {
      // A map still in flight is undone when it lands, so the next run can map again.
      if (!landed)
        void mapped.then(
          () => staging.unmap(),
          () => undefined,
        );
      if (error instanceof WebGPURunError || (error instanceof Error && error.name === 'AbortError')) throw error;
      throw new WebGPURunError(`reading the result back failed: ${describe(error)}`);
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Frees the weights and hands the activation buffers back to the device's pool. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const buffer of this.owned) buffer.destroy();
    this.querySet?.destroy();
    const pool = bufferPoolFor(this.device);
    for (const buffer of this.pooled) {
      if (this.lost) buffer.destroy();
      else pool.release(buffer);
    }
    this.owned.length = 0;
    this.pooled.length = 0;
  }
}
