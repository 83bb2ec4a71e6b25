/**
 * A model compiled for one GPUDevice: its plan, its pipelines, its weights (uploaded once, folded
 * with BatchNorm) and its activation buffers (taken from the device's pool, shared between steps
 * whose lifetimes do not overlap). A run is one writeBuffer, one submit and one readback.
 */
import { parameterShapes, type ResolvedModel } from '../../shared/spec';
import { elementCount } from '../../shared/tensor';
import { BufferPool, bufferPoolFor } from './bufferPool';
import { adaptiveAvgPool2dProgram } from './adaptiveAvgPool2d';
import { depthwiseConv2dProgram, depthwiseConv2dTiledProgram } from './depthwiseConv2d';
import { elementwiseProgram } from './elementwise';
import { gemmProgram, gemmRegisterTiledProgram } from './gemmConv2d';
import { groupedConv2dProgram } from './groupedConv2d';
import { getPipeline, type CompiledProgram } from './pipelineCache';
import { buildPlan, type EpilogueState, type Plan, type Step, type Tensor, type Value } from './plan';
import { batchNormStatisticsProgram, shiftOffsetBytes } from './batchNormStatistics';
import { groups4, type Program } from './program';
import { paddedElements, repackProgram, type Layout } from './repack';
import type { Epilogue } from './wgsl/common';

// GPUBufferUsage / GPUMapMode as numbers: Node 20 has no WebGPU globals.
const MAP_READ = 0x0001;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const UNIFORM = 0x0040;
const STORAGE = 0x0080;
const QUERY_RESOLVE = 0x0200;

/** Bytes between two programs' uniforms: the largest minUniformBufferOffsetAlignment WebGPU allows. */
const UNIFORM_STRIDE = 256;
const DEFAULT_TIMEOUT_MS = 120_000;

export interface StageTiming {
  /** The leaves the stage computed, e.g. "3.0+3.1+3.2" (a conv with its BatchNorm and ReLU). */
  name: string;
  /** The same as a list: leaf and residual keys ("3.0"), or "3.0(layout)" for a layout change before "3.0". */
  keys: string[];
  /** GPU time from timestamp queries. */
  ms: number;
}

export interface WebGPURunResult {
  output: Tensor;
  /** Module key -> its output, for the keys the model was compiled to expose. */
  intermediates: Record<string, Tensor>;
  /** The intermediates' keys in execution order (a Record lists integer-like keys such as "3" first). */
  intermediateOrder: string[];
  timings: {
    /** Wall time of the run: upload, GPU work, readback. */
    totalMs: number;
    /** Per dispatch, when the device has timestamp queries; empty otherwise. */
    stages: StageTiming[];
    /** Whether the device has timestamp queries (a model of no dispatches has no stages either way). */
    timestamps: boolean;
  };
}

export interface CompileOptions {
  /**
   * Module keys whose outputs the runs return (each ends a fused step): leaf, residual or
   * top-level layer keys ("3" is layer 3's output). 'all': every leaf and residual, unfused.
   */
  intermediates?: Iterable<string> | 'all';
  /**
   * Module keys after which a fused step must end even though its output is not read back (the
   * steps of the CPU backend, so that both report the same steps).
   */
  stepEnds?: Iterable<string>;
  /** false: every leaf is its own step (as if every module's output were requested). Default true. */
  fuse?: boolean;
  gemm?: GemmStrategy;
  depthwise?: DepthwiseStrategy;
}

/**
 * Which matrix-multiply program serves pointwise convs, implicit-GEMM convs and Linear:
 * 'workgroup' stages tiles in workgroup memory (GPUs), 'registers' keeps them in registers only
 * (CPU-emulated devices such as SwiftShader). 'auto' picks by the adapter.
 */
export type GemmStrategy = 'auto' | 'workgroup' | 'registers';

/**
 * Which program serves depthwise convs: 'workgroup' stages each workgroup's input tile in
 * workgroup memory (GPUs), 'registers' reads the input straight from the buffer into each thread's
 * registers (CPU-emulated devices, where barriers are expensive). 'auto' picks by the adapter.
 */
export type DepthwiseStrategy = 'auto' | 'workgroup' | 'registers';

/** Whether a device is a CPU emulation (SwiftShader, llvmpipe, WARP), from its adapter info. */
export function isCpuEmulated(device: GPUDevice): boolean {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const text = info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase() : '';
  return /swiftshader|llvmpipe|lavapipe|warp|software|cpu/.test(text);
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Milliseconds to wait for the GPU before giving up. Default 120 s. */
  timeoutMs?: number;
}

/** A GPU run failed (validation, out of memory, lost device, timeout); the message says which. */
export class WebGPURunError extends Error {
  constructor(message: string, readonly deviceLost = false) {
    super(message);
    this.name = 'WebGPURunError';
  }
}

interface Dispatch {
  program: Program;
  /** The plan step's keys (what {@link StageTiming.keys} reports). */
  keys: string[];
  compiled: CompiledProgram;
  bindGroup: GPUBindGroup;
  /** Values to copy out right after this dispatch: [value, staging offset in bytes]. */
  copies: Array<[Value, number]>;
}

interface Readout {
  key: string;
  value: Value;
  offset: number;
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

/** Writes a logical (row-major) tensor into a layout's padded order. */
export function toLayout(data: Float32Array, layout: Layout): Float32Array {
  const out = new Float32Array(paddedElements(layout));
  if (layout.kind === 'flat') {
    const cp = Math.ceil(layout.cols / 4) * 4;
    for (let r = 0; r < layout.rows; r++) out.set(data.subarray(r * layout.cols, (r + 1) * layout.cols), r * cp);
    return out;
  }
  const { n, c, h, w } = layout;
  const cp = Math.ceil(c / 4) * 4;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * h * w;
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * cp + ch] = data[src + p]!;
    }
  }
  return out;
}

/** Reads a layout's padded order back into a logical (row-major) tensor. */
export function fromLayout(padded: Float32Array, layout: Layout): Float32Array {
  if (layout.kind === 'flat') {
    const cp = Math.ceil(layout.cols / 4) * 4;
    const out = new Float32Array(layout.rows * layout.cols);
    for (let r = 0; r < layout.rows; r++) out.set(padded.subarray(r * cp, r * cp + layout.cols), r * layout.cols);
    return out;
  }
  const { n, c, h, w } = layout;
  const cp = Math.ceil(c / 4) * 4;
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const dst = (b * c + ch) * h * w;
      for (let p = 0; p < h * w; p++) out[dst + p] = padded[(b * h * w + p) * cp + ch]!;
    }
  }
  return out;
}

const pad4Array = (values: ArrayLike<number>, length: number) => {
  const out = new Float32Array(Math.ceil(length / 4) * 4);
  for (let i = 0; i < length; i++) out[i] = values[i]!;
  return out;
};

export class WebGPUModel {
  private readonly owned: GPUBuffer[] = [];
  private readonly pooled: GPUBuffer[] = [];
  private dispatches: Dispatch[] = [];
  private readouts: Readout[] = [];
  private staging!: GPUBuffer;
  private stagingBytes = 0;
  private inputBuffer!: GPUBuffer;
  private querySet: GPUQuerySet | undefined;
  private queryBuffer: GPUBuffer | undefined;
  private timestampOffset = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private lost = false;
  private disposed = false;

  private constructor(readonly device: GPUDevice, readonly model: ResolvedModel, private readonly plan: Plan, private readonly weights: Record<string, Tensor>) {
    void device.lost.then(() => { this.lost = true; });
  }

  /** Validates the weights, plans the fused steps, compiles the programs and uploads the weights. */
  static async create(device: GPUDevice, model: ResolvedModel, weights: Record<string, Tensor>, options: CompileOptions = {}): Promise<WebGPUModel> {
    if (!weights || typeof weights !== 'object') throw new Error('weights must map state_dict names to {shape, data}');
    for (const spec of parameterShapes(model)) checkTensor(spec.key, weights[spec.key], spec.shape, 'weight');
    const requested = options.intermediates === 'all' ? 'all' : new Set(options.intermediates ?? []);
    const ends = requested === 'all' || options.fuse === false ? 'all' : new Set([...requested, ...(options.stepEnds ?? [])]);
    const plan = buildPlan(model, weights, ends);
    const compiled = new WebGPUModel(device, model, plan, weights);
    const emulated = isCpuEmulated(device);
    const strategy = options.gemm ?? 'auto';
    compiled.gemmStrategy = strategy === 'auto' ? (emulated ? 'registers' : 'workgroup') : strategy;
    const depthwise = options.depthwise ?? 'auto';
    compiled.depthwiseStrategy = depthwise === 'auto' ? (emulated ? 'registers' : 'workgroup') : depthwise;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      await compiled.build(weights, requested);
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
      throw new WebGPURunError(oom ? `out of GPU memory while preparing "${model.name}": ${oom.message}` : `WebGPU rejected the model setup: ${validation!.message}`);
    }
    return compiled;
  }

  /** The fused steps, by the leaves each computes. */
  get stageNames(): string[] {
    return this.dispatches.map((d) => d.program.label);
  }

  private gemmStrategy: Exclude<GemmStrategy, 'auto'> = 'workgroup';
  private depthwiseStrategy: Exclude<DepthwiseStrategy, 'auto'> = 'workgroup';

  private gemm(cfg: Parameters<typeof gemmProgram>[0], label: string): Program {
    return this.gemmStrategy === 'registers' ? gemmRegisterTiledProgram(cfg, label) : gemmProgram(cfg, label);
  }

  private upload(data: Float32Array, label: string): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE | COPY_DST, label });
    this.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    this.owned.push(buffer);
    return buffer;
  }

  private async build(weights: Record<string, Tensor>, requested: Set<string> | 'all'): Promise<void> {
    const { device, plan } = this;
    const pool = bufferPoolFor(device);
    const steps = plan.steps;

    // Lifetimes: a storage lives from the step that writes it to the last step that reads it.
    const lastUse = new Map<number, number>();
    steps.forEach((step, i) => {
      lastUse.set(step.input.storage, i);
      if ('epilogue' in step && step.epilogue.residual) lastUse.set(step.epilogue.residual.storage, i);
    });
    lastUse.set(plan.output.storage, Infinity);
    const storages = new Map<number, GPUBuffer>();
    const free = new Map<number, GPUBuffer[]>();
    const acquire = (value: Value): GPUBuffer => {
      const bytes = BufferPool.bucket(paddedElements(value.layout) * 4);
      const reused = free.get(bytes)?.pop();
      const buffer = reused ?? pool.acquire(bytes, STORAGE | COPY_SRC | COPY_DST, 'activation');
      if (!reused) this.pooled.push(buffer);
      storages.set(value.storage, buffer);
      return buffer;
    };
    this.inputBuffer = acquire(plan.input);

    // What the runs read back: the output, then the requested intermediates.
    let stagingBytes = 0;
    const readoutOf = new Map<number, number>(); // storage -> offset, so a value is copied once
    const addReadout = (key: string, value: Value) => {
      let offset = readoutOf.get(value.storage);
      if (offset === undefined) {
        offset = stagingBytes;
        readoutOf.set(value.storage, offset);
        stagingBytes += paddedElements(value.layout) * 4;
      }
      this.readouts.push({ key, value, offset });
    };
    addReadout('', plan.output);
    for (const key of requested === 'all' ? plan.moduleKeys : requested) {
      const value = plan.outputs.get(key);
      if (!value) throw new Error(`no module "${key}" in "${this.model.name}" to return an intermediate for`);
      addReadout(key, value);
    }

    const timestamps = device.features.has('timestamp-query');

    const programs: Array<{ program: Program; buffers: GPUBufferBinding[]; keys: string[] }> = [];
    const producer = new Map<number, number>();
    steps.forEach((step, i) => {
      const inputs = this.stepBuffers(step, weights, storages);
      const output = acquire(step.output);
      programs.push(...inputs.before.map((before) => ({ ...before, keys: step.keys })));
      programs.push({ program: inputs.program, buffers: [...inputs.buffers, { buffer: output }], keys: step.keys });
      producer.set(step.output.storage, programs.length - 1);
      // Free what this step read for the last time (never the output itself, written just now).
      for (const storage of new Set([step.input.storage, ...('epilogue' in step && step.epilogue.residual ? [step.epilogue.residual.storage] : [])])) {
        if (lastUse.get(storage) === i && storage !== step.output.storage) {
          const buffer = storages.get(storage)!;
          const list = free.get(buffer.size) ?? [];
          list.push(buffer);
          free.set(buffer.size, list);
        }
      }
    });

    if (timestamps && programs.length > 0) {
      this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * programs.length });
      this.queryBuffer = device.createBuffer({ size: 16 * programs.length, usage: QUERY_RESOLVE | COPY_SRC });
      this.owned.push(this.queryBuffer);
      this.timestampOffset = stagingBytes;
      stagingBytes += 16 * programs.length;
    }
    this.stagingBytes = stagingBytes;
    this.staging = device.createBuffer({ size: Math.max(16, stagingBytes), usage: MAP_READ | COPY_DST, label: 'readback' });
    this.owned.push(this.staging);

    const uniformData = new ArrayBuffer(Math.max(1, programs.length) * UNIFORM_STRIDE);
    programs.forEach(({ program }, i) => {
      const view = new Int32Array(uniformData, i * UNIFORM_STRIDE, program.uniforms.length || 1);
      program.uniforms.forEach(([, value], j) => { view[j] = value; });
    });
    const uniformBuffer = device.createBuffer({ size: uniformData.byteLength, usage: UNIFORM | COPY_DST, label: 'uniforms' });
    device.queue.writeBuffer(uniformBuffer, 0, uniformData);
    this.owned.push(uniformBuffer);

    const compiled = await Promise.all(programs.map(({ program }) => getPipeline(device, program)));
    const copyAfter = new Map<number, Array<[Value, number]>>();
    for (const [storage, offset] of readoutOf) {
      const readout = this.readouts.find((r) => r.value.storage === storage)!;
      const at = producer.get(storage) ?? -1; // -1: the input itself (a model of only Dropouts)
      const list = copyAfter.get(at) ?? [];
      list.push([readout.value, offset]);
      copyAfter.set(at, list);
    }
    this.dispatches = programs.map(({ program, buffers, keys }, i) => ({
      program,
      keys,
      compiled: compiled[i]!,
      bindGroup: device.createBindGroup({
        layout: compiled[i]!.layout,
        entries: [
          { binding: 0, resource: { buffer: uniformBuffer, offset: i * UNIFORM_STRIDE, size: Math.max(4, program.uniforms.length * 4) } },
          ...buffers.map((resource, j) => ({ binding: j + 1, resource })),
        ],
      }),
      copies: copyAfter.get(i) ?? [],
    }));
    this.inputCopies = copyAfter.get(-1) ?? [];
    this.storages = storages;
  }

  private inputCopies: Array<[Value, number]> = [];
  private storages = new Map<number, GPUBuffer>();

  /**
   * The epilogue's buffers. A conv or Linear always gets a scale and a shift (ones and zeros when
   * it has neither bias nor BatchNorm): one shader variant fewer to compile, two loads per output
   * vec4 more to run.
   */
  private epilogueBuffers(e: EpilogueState, channels: number, label: string, storages: Map<number, GPUBuffer>, input?: Value, alwaysAffine = false): { epilogue: Epilogue; buffers: GPUBufferBinding[]; before: Array<{ program: Program; buffers: GPUBufferBinding[] }> } {
    const affine = alwaysAffine || e.scale !== undefined || e.shift !== undefined || e.batchStatistics !== undefined;
    const buffers: GPUBufferBinding[] = [];
    const before: Array<{ program: Program; buffers: GPUBufferBinding[] }> = [];
    const bn = e.batchStatistics;
    if (bn && input) {
      const c4 = groups4(channels);
      const params = new Float32Array(2 * c4 * 4);
      for (let c = 0; c < channels; c++) {
        params[c] = bn.affine ? this.weights[`${bn.key}.weight`]!.data[c]! : 1;
        params[c4 * 4 + c] = bn.affine ? this.weights[`${bn.key}.bias`]!.data[c]! : 0;
      }
      const shiftAt = shiftOffsetBytes(c4);
      const stats = this.device.createBuffer({ size: shiftAt + c4 * 16, usage: STORAGE, label: `${label} statistics` });
      this.owned.push(stats);
      const pixels = paddedElements(input.layout) / (c4 * 4);
      before.push({
        program: batchNormStatisticsProgram(pixels, c4, bn.eps, label),
        buffers: [{ buffer: storages.get(input.storage)! }, { buffer: this.upload(params, `${label} gamma/beta`) }, { buffer: stats }],
      });
      buffers.push({ buffer: stats, offset: 0, size: c4 * 16 }, { buffer: stats, offset: shiftAt, size: c4 * 16 });
    } else if (affine) {
      const scale = e.scale ?? new Float64Array(channels).fill(1);
      const shift = e.shift ?? new Float64Array(channels);
      // Padded channels get scale 0 and shift 0, so they stay exactly zero through every activation.
      buffers.push({ buffer: this.upload(pad4Array(scale, channels), `${label} scale`) }, { buffer: this.upload(pad4Array(shift, channels), `${label} shift`) });
    }
    if (e.residual) buffers.push({ buffer: storages.get(e.residual.storage)! });
    return { epilogue: { affine, activation: e.activation, negativeSlope: e.negativeSlope, residual: e.residual !== undefined }, buffers, before };
  }

  private stepBuffers(step: Step, weights: Record<string, Tensor>, storages: Map<number, GPUBuffer>): { program: Program; buffers: GPUBufferBinding[]; before: Array<{ program: Program; buffers: GPUBufferBinding[] }> } {
    const label = step.keys.join('+');
    const x = { buffer: storages.get(step.input.storage)! };
    const before: Array<{ program: Program; buffers: GPUBufferBinding[] }> = [];
    switch (step.kind) {
      case 'conv': {
        const node = step.node;
        const [n, cin, h, w] = step.input.shape as [number, number, number, number];
        const [, cout, oh, ow] = step.output.shape as [number, number, number, number];
        const [kh, kw] = node.kernel;
        const weight = weights[`${node.key}.weight`]!.data;
        const { epilogue, buffers } = this.epilogueBuffers(step.epilogue, cout, label, storages, undefined, true);
        const pads = node.pads!;
        const geometry = { kernel: node.kernel, stride: node.stride, dilation: node.dilation, padTop: pads[0], padLeft: pads[2], paddingMode: node.paddingMode };
        const ci4 = groups4(cin);
        const n4 = groups4(cout);
        if (node.groups === cin && cout === cin) {
          // Depthwise, multiplier 1: taps as [ky, kx][channel] vec4s.
          const taps = new Float32Array(kh * kw * ci4 * 4);
          for (let c = 0; c < cin; c++) for (let t = 0; t < kh * kw; t++) taps[t * ci4 * 4 + c] = weight[c * kh * kw + t]!;
          const cfg = { n, h, w, c4: ci4, oh, ow, ...geometry, epilogue };
          const tiled = this.depthwiseStrategy === 'workgroup' ? depthwiseConv2dTiledProgram(cfg, label, this.device.limits.maxComputeWorkgroupStorageSize) : undefined;
          const program = tiled ?? depthwiseConv2dProgram(cfg, label);
          return { program, buffers: [x, { buffer: this.upload(taps, `${label} weight`) }, ...buffers], before };
        }
        if (node.groups === 1) {
          const matrix = kh === 1 && kw === 1 && node.stride[0] === 1 && node.stride[1] === 1 && pads.every((p) => p === 0);
          // B[(tap, input channel), output channel], input channels padded to vec4s.
          const b = new Float32Array(kh * kw * ci4 * 4 * n4 * 4);
          for (let oc = 0; oc < cout; oc++) {
            for (let ic = 0; ic < cin; ic++) {
              for (let t = 0; t < kh * kw; t++) b[(t * ci4 * 4 + ic) * n4 * 4 + oc] = weight[(oc * cin + ic) * kh * kw + t]!;
            }
          }
          const source = matrix ? { kind: 'matrix' as const } : { kind: 'conv' as const, h, w, ci4, oh, ow, ...geometry };
          const program = this.gemm({ m: n * oh * ow, k4: kh * kw * ci4, n4, source, epilogue }, label);
          return { program, buffers: [x, { buffer: this.upload(b, `${label} weight`) }, ...buffers], before };
        }
        const program = groupedConv2dProgram({
          n, h, w, ci4, oh, ow, outChannels: cout, n4, cinPerGroup: cin / node.groups, coutPerGroup: cout / node.groups, ...geometry, epilogue,
        }, label);
        return { program, buffers: [x, { buffer: this.upload(weight, `${label} weight`) }, ...buffers], before };
      }
      case 'linear': {
        const node = step.node;
        const weight = weights[`${node.key}.weight`]!.data;
        const k4 = groups4(node.inFeatures);
        const n4 = groups4(node.outFeatures);
        const b = new Float32Array(k4 * 4 * n4 * 4);
        for (let o = 0; o < node.outFeatures; o++) for (let i = 0; i < node.inFeatures; i++) b[i * n4 * 4 + o] = weight[o * node.inFeatures + i]!;
        const { epilogue, buffers } = this.epilogueBuffers(step.epilogue, node.outFeatures, label, storages, undefined, true);
        const rows = step.input.layout.kind === 'flat' ? step.input.layout.rows : 1;
        const program = this.gemm({ m: rows, k4, n4, source: { kind: 'matrix' }, epilogue }, label);
        return { program, buffers: [x, { buffer: this.upload(b, `${label} weight`) }, ...buffers], before };
      }
      case 'elementwise': {
        const layout = step.output.layout;
        const channels = layout.kind === 'nhwc' ? layout.c : layout.cols;
        const { epilogue, buffers, before: statistics } = this.epilogueBuffers(step.epilogue, channels, label, storages, step.input);
        const program = elementwiseProgram(paddedElements(layout) / 4, groups4(channels), epilogue, label);
        return { program, buffers: [x, ...buffers], before: statistics };
      }
      case 'pool': {
        const [n, c, h, w] = step.input.shape as [number, number, number, number];
        return { program: adaptiveAvgPool2dProgram(n, h, w, groups4(c), step.outputSize[0], step.outputSize[1], label), buffers: [x], before };
      }
      case 'repack':
        return { program: repackProgram(step.input.layout, step.output.layout, label), buffers: [x], before };
    }
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
    for (let i = 0; i < input.data.length; i++) {
      if (!Number.isFinite(input.data[i]!)) throw new Error(`the input has a non-finite value (${input.data[i]}) at flat index ${i}`);
    }
    const started = performance.now();
    const { device } = this;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    device.queue.writeBuffer(this.inputBuffer, 0, toLayout(input.data, this.plan.input.layout) as Float32Array<ArrayBuffer>);
    const encoder = device.createCommandEncoder();
    for (const [value, offset] of this.inputCopies) {
      encoder.copyBufferToBuffer(this.storages.get(value.storage)!, 0, this.staging, offset, paddedElements(value.layout) * 4);
    }
    this.dispatches.forEach((d, i) => {
      const pass = encoder.beginComputePass(this.querySet
        ? { label: d.program.label, timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } }
        : { label: d.program.label });
      pass.setPipeline(d.compiled.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.program.dispatch);
      pass.end();
      for (const [value, offset] of d.copies) {
        encoder.copyBufferToBuffer(this.storages.get(value.storage)!, 0, this.staging, offset, paddedElements(value.layout) * 4);
      }
    });
    if (this.querySet && this.queryBuffer) {
      encoder.resolveQuerySet(this.querySet, 0, 2 * this.dispatches.length, this.queryBuffer, 0);
      encoder.copyBufferToBuffer(this.queryBuffer, 0, this.staging, this.timestampOffset, 16 * this.dispatches.length);
    }
    device.queue.submit([encoder.finish()]);
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new WebGPURunError(`out of GPU memory running "${this.model.name}": ${oom.message}`);
    if (validation) throw new WebGPURunError(`WebGPU rejected the run of "${this.model.name}": ${validation.message}`);

    const bytes = await this.readback(options);
    const read = (value: Value, offset: number): Tensor => ({
      shape: [...value.shape],
      data: fromLayout(new Float32Array(bytes, offset, paddedElements(value.layout)), value.layout),
    });
    const intermediates: Record<string, Tensor> = {};
    let output: Tensor | undefined;
    for (const r of this.readouts) {
      if (r.key === '') output = read(r.value, r.offset);
      else intermediates[r.key] = read(r.value, r.offset);
    }
    const stages: StageTiming[] = [];
    if (this.querySet) {
      const times = new BigInt64Array(bytes, this.timestampOffset, 2 * this.dispatches.length);
      this.dispatches.forEach((d, i) => stages.push({ name: d.program.label, keys: d.keys, ms: Number(times[2 * i + 1]! - times[2 * i]!) / 1e6 }));
    }
    const intermediateOrder = this.readouts.filter((r) => r.key !== '').map((r) => r.key);
    return { output: output!, intermediates, intermediateOrder, timings: { totalMs: performance.now() - started, stages, timestamps: device.features.has('timestamp-query') } };
  }

  private async readback(options: RunOptions): Promise<ArrayBuffer> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const mapped = this.staging.mapAsync(MAP_READ, 0, this.stagingBytes);
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WebGPURunError(`the GPU did not finish "${this.model.name}" within ${timeoutMs} ms`)), timeoutMs);
      onAbort = () => reject(options.signal!.reason ?? new Error('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      void this.device.lost.then((info) => reject(new WebGPURunError(`the WebGPU device was lost during the run: ${info.message || info.reason}`, true)));
    });
    try {
      await Promise.race([mapped, stop]);
      const copy = this.staging.getMappedRange(0, this.stagingBytes).slice(0);
      this.staging.unmap();
      return copy;
    } catch (error) {
      // A map still in flight is undone when it lands, so the next run can map again.
      void mapped.then(() => this.staging.unmap(), () => undefined);
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
