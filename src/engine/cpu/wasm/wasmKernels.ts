/**
 * The WebAssembly SIMD implementation of {@link CpuKernels}: the hot loops (GEMM for pointwise
 * and im2col convolutions, the depthwise convolution, residual adds) run in kernels compiled from
 * ./assembly/kernels.ts; this module moves the NCHW arrays in and out of the module's memory and
 * applies the activations the kernels do not fuse (all but ReLU/ReLU6). Arrays that already live
 * in the module's memory (the activation buffers it hands out, see `activationBuffers`) are read
 * and written where they are: no copies between the steps of a run. Where WebAssembly SIMD is
 * missing, {@link loadWasmKernels} resolves to undefined and the plain-JS kernels stay in use.
 *
 * Imports neither `vscode`, the DOM nor node modules: the same code runs in the extension host's
 * worker, a Web Worker and the tests.
 */
import { activateRange } from '../activation';
import type { ActivationKind } from '../../activationKind';
import type { ConvGeometry, CpuKernels, Epilogue } from '../kernels/cpuKernels';
import { epilogueInPlace } from '../kernels/epilogue';
import { jsKernels } from '../kernels/jsKernels';
import { setNonFiniteScan } from '../../weights';
import { KernelThreads, MAX_CHUNKS, type KernelCall, type ThreadScratch } from './kernelThreads';

/** The kernels' exports (see assembly/kernels.ts for what each computes). */
interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  packedRowsBytes(m: number, k: number): number;
  packRows(a: number, m: number, k: number, dst: number): void;
  gemm(ap: number, bp: number, bias: number, c: number, ldc: number, m: number, n: number, k: number, lo: number, hi: number, tile: number): void;
  gemv(a: number, x: number, bias: number, out: number, m: number, k: number, lo: number, hi: number): void;
  packPanels(src: number, ld: number, k: number, n: number, dst: number): void;
  packGemm(
    src: number,
    ld: number,
    k: number,
    n: number,
    panels: number,
    ap: number,
    bias: number,
    c: number,
    ldc: number,
    m: number,
    lo: number,
    hi: number,
    tile: number,
  ): void;
  im2colGemm(
    inp: number,
    cin: number,
    h: number,
    w: number,
    ow: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
    p0: number,
    p1: number,
    panels: number,
    ap: number,
    bias: number,
    c: number,
    ldc: number,
    m: number,
    lo: number,
    hi: number,
    tile: number,
  ): void;
  im2colPanels(
    inp: number,
    cin: number,
    h: number,
    w: number,
    ow: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
    p0: number,
    p1: number,
    dst: number,
  ): void;
  depthwiseScratchFloats(
    h: number,
    w: number,
    oh: number,
    ow: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
  ): number;
  firstNonFinite(p: number, n: number): number;
  depthwise(
    inp: number,
    channels: number,
    multiplier: number,
    h: number,
    w: number,
    wt: number,
    bias: number,
    out: number,
    oh: number,
    ow: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    pt: number,
    pl: number,
    lo: number,
    hi: number,
    scratch: number,
  ): void;
  addInPlace(dst: number, src: number, n: number): void;
}

/** The binaries embedded by esbuild.mjs (base64), absent when the source runs unbundled (tests). */
declare const __SEPCONV_KERNELS_WASM__: string | undefined;
declare const __SEPCONV_KERNELS_SHARED_WASM__: string | undefined;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The embedded kernel binary, if this bundle has one. */
export function embeddedKernelBinary(): Uint8Array | undefined {
  return typeof __SEPCONV_KERNELS_WASM__ === 'undefined' ? undefined : decodeBase64(__SEPCONV_KERNELS_WASM__);
}

/** The embedded thread-pool kernel binary (shared, imported memory), if this bundle has one. */
export function embeddedSharedKernelBinary(): Uint8Array | undefined {
  return typeof __SEPCONV_KERNELS_SHARED_WASM__ === 'undefined' ? undefined : decodeBase64(__SEPCONV_KERNELS_SHARED_WASM__);
}

/** Pages (64 KiB) a shared kernel memory may grow to: what the shared binary declares (4 GiB). */
const SHARED_MAXIMUM_PAGES = 65536;
/** Pages a shared kernel memory starts with: at least the binary's declared minimum (1 MiB). */
const SHARED_INITIAL_PAGES = 16;

const PAGE_BYTES = 65536;
/** Alignment of every buffer: a cache line. */
const ALIGN = 64;
/** Weights cached in the module's memory, beyond which the cache starts over (bytes). */
const WEIGHT_CACHE_BYTES = 256 * 1024 * 1024;
/** Floats of im2col panels per GEMM call of a general conv (4 MiB): bounds scratch memory. */
const PANEL_BUDGET_FLOATS = 1 << 20;

/** Floats scanned per copy by firstNonFinite (4 MiB). */
const SCAN_CHUNK_FLOATS = 1 << 20;

const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

/** The clamp [lo, hi] the kernels fuse, or undefined when the activation needs the JS epilogue. */
function fusedClamp(activation: ActivationKind): [number, number] | undefined {
  if (activation === 'none') return [-Infinity, Infinity];
  if (activation === 'relu') return [0, Infinity];
  if (activation === 'relu6') return [0, 6];
  return undefined;
}

/** Floats of slack after each activation buffer: the depthwise kernel writes rows as whole vectors. */
const BUFFER_SLACK_FLOATS = 4;

/**
 * The module's memory: at the bottom what outlives a kernel call (weights cached by array
 * identity, packed where the kernel wants them packed, and the activation buffers of the current
 * run), one call's buffers above, reset at the start of every call. `forward()` starts the
 * cache over with every run (beginRun); a prepared model keeps it.
 */
class WasmMemory {
  private readonly base: number;
  private cacheTop: number;
  private top: number;
  private caches = new Map<string, WeakMap<Float32Array, number>>();
  private view: Float32Array;
  /** The activation buffers handed out last, by the floats asked for. */
  private buffers?: { key: string; views: Array<() => Float32Array> };

  constructor(
    private readonly exports: KernelExports,
    private readonly memory: WebAssembly.Memory,
  ) {
    this.base = align(exports.heapBase());
    this.cacheTop = this.base;
    this.top = this.base;
    this.view = new Float32Array(memory.buffer);
  }

  /** A view of the whole memory (made again when the memory grows, see reserve). */
  get f32(): Float32Array {
    return this.view;
  }

  /**
   * Starts a call: forgets the previous call's buffers (and the weight cache when it is full,
   * unless a run's activation buffers live among the cached weights: they are checked at the
   * start of the next run instead).
   */
  begin(): void {
    if (!this.buffers && this.cacheTop - this.base > WEIGHT_CACHE_BYTES) this.forgetWeights();
    this.top = this.cacheTop;
  }

  /** Drops every cached weight and the activation buffers (a new run: the caller may have changed the arrays' values). */
  forgetWeights(): void {
    this.caches = new Map();
    this.cacheTop = this.base;
    this.top = this.base;
    this.buffers = undefined;
  }

  /**
   * Activation buffers for a run: the same ones as the last run when it asked for the same
   * sizes, new ones otherwise. Each getter returns a view, made again after the memory grew.
   */
  activationBuffers(floats: readonly number[]): Array<() => Float32Array> {
    const key = floats.join(',');
    if (this.buffers?.key === key && this.cacheTop - this.base <= WEIGHT_CACHE_BYTES) return this.buffers.views;
    if (this.cacheTop - this.base > WEIGHT_CACHE_BYTES) this.forgetWeights();
    this.top = this.cacheTop;
    const views = floats.map((count) => {
      const pointer = this.claim((count + BUFFER_SLACK_FLOATS) * 4);
      let whole: Float32Array | undefined;
      let view: Float32Array | undefined;
      return () => {
        if (whole !== this.view) {
          whole = this.view;
          view = whole.subarray(pointer / 4, pointer / 4 + count);
        }
        return view!;
      };
    });
    this.buffers = { key, views };
    return views;
  }

  /** The byte offset of an array that lives in this memory (a view of an activation buffer), or -1. */
  pointerOf(data: Float32Array | undefined): number {
    return data !== undefined && data.buffer === this.view.buffer ? data.byteOffset : -1;
  }

  /** A buffer of `bytes` for this call. Call {@link begin} first and cache weights before any of these. */
  alloc(bytes: number): number {
    const pointer = this.top;
    this.top += align(bytes);
    this.reserve(this.top);
    return pointer;
  }

  /** Copies `data` in for this call. */
  put(data: Float32Array): number {
    const pointer = this.alloc(data.length * 4);
    this.f32.set(data, pointer / 4);
    return pointer;
  }

  /** The cached copy of a weight array, copied in on first use. Call right after {@link begin}. */
  cached(data: Float32Array): number {
    const cache = this.cacheOf('raw');
    const known = cache.get(data);
    if (known !== undefined) return known;
    const pointer = this.claim(data.length * 4);
    this.f32.set(data, pointer / 4);
    cache.set(data, pointer);
    return pointer;
  }

  /**
   * A cached form of a weight array that `fill` makes in `bytes` at `pointer` from the raw values
   * at `raw` (memory that is free again afterwards). Call right after {@link begin}, before any
   * {@link alloc}.
   */
  cachedAs(kind: string, data: Float32Array, bytes: number, fill: (pointer: number, raw: number) => void): number {
    const cache = this.cacheOf(kind);
    const known = cache.get(data);
    if (known !== undefined) return known;
    const pointer = this.claim(bytes);
    const raw = this.cacheTop;
    this.reserve(raw + data.length * 4);
    this.f32.set(data, raw / 4);
    fill(pointer, raw);
    cache.set(data, pointer);
    return pointer;
  }

  private cacheOf(kind: string): WeakMap<Float32Array, number> {
    let cache = this.caches.get(kind);
    if (!cache) this.caches.set(kind, (cache = new WeakMap()));
    return cache;
  }

  /** Memory for a cached form, below this call's buffers. */
  private claim(bytes: number): number {
    if (this.top !== this.cacheTop) throw new Error('internal: cache weights before the call buffers');
    const pointer = this.cacheTop;
    this.cacheTop += align(bytes);
    this.top = this.cacheTop;
    this.reserve(this.cacheTop);
    return pointer;
  }

  private reserve(end: number): void {
    if (end <= this.view.length * 4) return;
    // The only place the memory grows (the kernels never grow it): views are made again here.
    this.memory.grow(Math.ceil((end - this.view.length * 4) / PAGE_BYTES));
    this.view = new Float32Array(this.memory.buffer);
  }
}

/** Byte offsets of a kernel call's arrays in the module's memory (-1: a JS array, copied) and its fused clamp. */
interface CallArrays {
  input: number;
  output: number;
  residual: number;
  lo: number;
  hi: number;
}

/** The tile the GEMM writes partial tiles through (4 x 8 floats). */
const TILE_BYTES = 128;

/**
 * Splits [0, total) into at most `parts` ranges whose bounds (but the last) are multiples of
 * `unit`, as even as that allows; never an empty range.
 */
export function splitRange(total: number, parts: number, unit = 1): Array<[number, number]> {
  const units = Math.ceil(total / unit);
  const count = Math.max(1, Math.min(parts, units));
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const start = Math.min(total, Math.floor((units * i) / count) * unit);
    const end = Math.min(total, Math.floor((units * (i + 1)) / count) * unit);
    if (end > start) ranges.push([start, end]);
  }
  return ranges;
}

/**
 * Least work (MACs) of a chunk of a step split over threads (about 5 microseconds): below it,
 * taking a chunk and waiting for it cost more than the chunk saves.
 */
const MIN_CHUNK_MACS = 1 << 17;
/**
 * Chunks per thread a step is split into, at most: threads that take chunks as they go keep
 * busy when one of them is late (descheduled on a busy machine), for a little more overhead per
 * chunk (a depthwise chunk clears its scratch, a GEMM chunk re-reads the weights).
 */
const CHUNKS_PER_THREAD = 4;
/** Floats of B (k x n) below which the caller packs B's panels alone rather than split the copy over threads. */
const MIN_SPLIT_PACK_FLOATS = 1 << 15;

class WasmSimdKernels implements CpuKernels {
  readonly name: string;
  private readonly memory: WasmMemory;
  private readonly zeros = new Map<number, Float32Array>();

  constructor(
    private readonly k: KernelExports,
    memory: WebAssembly.Memory,
    /** The pool that runs slices of a step on other threads, over the same memory; none: one thread. */
    private readonly threads?: KernelThreads,
  ) {
    this.memory = new WasmMemory(k, memory);
    this.name = threads ? `wasm-simd, ${threads.count} threads` : 'wasm-simd';
  }

  /** Threads that run a step: the pool's and this one. */
  private get threadCount(): number {
    return this.threads?.count ?? 1;
  }

  /** Chunks to split a step of `work` MACs into, made of at most `units` indivisible parts. */
  private chunksFor(work: number, units: number): number {
    if (!this.threads) return 1;
    return Math.max(1, Math.min(units, this.threads.count * CHUNKS_PER_THREAD, MAX_CHUNKS, Math.floor(work / MIN_CHUNK_MACS)));
  }

  /**
   * Runs the calls (chunks of one step), on this thread and the pool's, and returns when all are
   * done. A single call runs here, without the pool. `scratch`: see ThreadScratch (this thread is thread 0).
   */
  private runCalls(calls: KernelCall[], scratch?: ThreadScratch): void {
    // tsc needs the assertion to call the union of kernel signatures with a spread; the rule does not see that.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    const here = (call: KernelCall) => (this.k[call.kernel] as (...args: number[]) => void)(...call.args);
    // Without a pool, or while its threads are held up elsewhere (see KernelThreads.ready), the
    // same calls run here one after the other: the same results, bit for bit.
    if (calls.length === 1 || !this.threads?.ready) for (const call of calls) here(call);
    else this.threads.run(calls, here, scratch);
  }

  /** Wakes the pool's threads ahead of a run's steps (see KernelThreads.wake). */
  wake(): void {
    this.threads?.wake();
  }

  /** Lets the pool's threads sleep: a run's steps are over (see KernelThreads.park). */
  park(): void {
    this.threads?.park();
  }

  /** Frees the pool's threads (a prepared model's kernels, when the model is dropped). */
  dispose(): void {
    this.threads?.dispose();
  }

  private biasOf(epilogue: Epilogue, channels: number): Float32Array {
    if (epilogue.bias) return epilogue.bias;
    let zeros = this.zeros.get(channels);
    if (!zeros) this.zeros.set(channels, (zeros = new Float32Array(channels)));
    return zeros;
  }

  /**
   * Starts a kernel call: where its arrays are (byte offsets of those that live in the module's
   * memory, -1 for the others, taken before anything can grow the memory) and the clamp the
   * kernel fuses (none: {@link finish} applies the activation).
   */
  private begin(input: Float32Array, output: Float32Array, epilogue: Epilogue): CallArrays {
    const m = this.memory;
    const arrays = { input: m.pointerOf(input), output: m.pointerOf(output), residual: m.pointerOf(epilogue.residual), lo: -Infinity, hi: Infinity };
    m.begin();
    const clamp = fusedClamp(epilogue.activation);
    if (clamp) [arrays.lo, arrays.hi] = clamp;
    return arrays;
  }

  /** The input's offset in the module's memory: where it lives, or a copy made for this call. */
  private inputAt(arrays: CallArrays, input: Float32Array): number {
    return arrays.input >= 0 ? arrays.input : this.memory.put(input);
  }

  /** Where the kernel writes: the output itself when it lives in the module's memory, else a call buffer (plus slack floats). */
  private outputAt(arrays: CallArrays, floats: number, slackFloats = 0): number {
    return arrays.output >= 0 ? arrays.output : this.memory.alloc((floats + slackFloats) * 4);
  }

  /** Applies what the kernel did not fuse (activation, then residual add) and copies the result out unless it was written in place. */
  private finish(out: number, arrays: CallArrays, output: Float32Array, floats: number, epilogue: Epilogue): void {
    if (!fusedClamp(epilogue.activation)) activateRange(epilogue.activation, this.memory.f32, out / 4, out / 4 + floats, epilogue.negativeSlope);
    if (epilogue.residual) {
      const residual = arrays.residual >= 0 ? arrays.residual : this.memory.put(epilogue.residual);
      this.k.addInPlace(out, residual, floats);
    }
    if (arrays.output < 0) output.set(this.memory.f32.subarray(out / 4, out / 4 + floats));
  }

  /** A conv weight as the GEMM reads it (each group's rows packed in tiles of 4), cached. Call right after begin(). */
  private packedWeights(weight: Float32Array, groups: number, rowsPerGroup: number, k: number): number {
    const groupBytes = this.k.packedRowsBytes(rowsPerGroup, k);
    return this.memory.cachedAs('packed', weight, groups * groupBytes, (pointer, raw) => {
      for (let g = 0; g < groups; g++) this.k.packRows(raw + g * rowsPerGroup * k * 4, rowsPerGroup, k, pointer + g * groupBytes);
    });
  }

  depthwiseConv2d(input: Float32Array, weight: Float32Array, output: Float32Array, g: ConvGeometry, epilogue: Epilogue): void {
    if (epilogue.scale) return jsKernels.depthwiseConv2d(input, weight, output, g, epilogue);
    const arrays = this.begin(input, output, epilogue);
    const m = this.memory;
    const wt = m.cached(weight);
    const bias = m.cached(this.biasOf(epilogue, g.outChannels));
    const inp = this.inputAt(arrays, input);
    const outFloats = g.outChannels * g.outHeight * g.outWidth;
    // 4 floats of slack: rows are written as whole vectors (see the kernel). Activation buffers have it too.
    const out = this.outputAt(arrays, outFloats, 4);
    const scratchFloats = this.k.depthwiseScratchFloats(
      g.inHeight,
      g.inWidth,
      g.outHeight,
      g.outWidth,
      g.kernelHeight,
      g.kernelWidth,
      g.strideHeight,
      g.strideWidth,
      g.dilationHeight,
      g.dilationWidth,
      g.padTop,
      g.padLeft,
    );
    const multiplier = g.outChannels / g.inChannels;
    // Chunks of whole input channels; each thread has its own padded-plane scratch. The kernel
    // writes nothing past its own output planes, so the chunks never touch each other's memory.
    const macs = outFloats * g.kernelHeight * g.kernelWidth;
    const slices = splitRange(g.inChannels, this.chunksFor(macs, g.inChannels));
    const scratchBytes = align(scratchFloats * 4);
    const scratch = m.alloc(scratchBytes * this.threadCount);
    const inPlaneBytes = g.inHeight * g.inWidth * 4;
    const outPlaneBytes = g.outHeight * g.outWidth * 4;
    const taps = g.kernelHeight * g.kernelWidth;
    this.runCalls(
      slices.map(([c0, c1]) => ({
        kernel: 'depthwise',
        args: [
          inp + c0 * inPlaneBytes,
          c1 - c0,
          multiplier,
          g.inHeight,
          g.inWidth,
          wt + c0 * multiplier * taps * 4,
          bias + c0 * multiplier * 4,
          out + c0 * multiplier * outPlaneBytes,
          g.outHeight,
          g.outWidth,
          g.kernelHeight,
          g.kernelWidth,
          g.strideHeight,
          g.strideWidth,
          g.dilationHeight,
          g.dilationWidth,
          g.padTop,
          g.padLeft,
          arrays.lo,
          arrays.hi,
          scratch,
        ],
      })),
      { arg: 20, stride: scratchBytes },
    );
    this.finish(out, arrays, output, outFloats, epilogue);
  }

  pointwiseConv2d(
    input: Float32Array,
    weight: Float32Array,
    output: Float32Array,
    inChannels: number,
    outChannels: number,
    pixels: number,
    epilogue: Epilogue,
  ): void {
    if (epilogue.scale) return jsKernels.pointwiseConv2d(input, weight, output, inChannels, outChannels, pixels, epilogue);
    const arrays = this.begin(input, output, epilogue);
    const m = this.memory;
    if (pixels === 1) {
      // One pixel (a Linear layer): a matrix-vector product, straight from the weights as they are.
      const a = m.cached(weight);
      const bias = m.cached(this.biasOf(epilogue, outChannels));
      const x = this.inputAt(arrays, input);
      const out = this.outputAt(arrays, outChannels);
      // Chunks of rows: each output is the same sum in the same order whoever computes it.
      const slices = splitRange(outChannels, this.chunksFor(outChannels * inChannels, outChannels));
      this.runCalls(
        slices.map(([i0, i1]) => ({
          kernel: 'gemv',
          args: [a + i0 * inChannels * 4, x, bias + i0 * 4, out + i0 * 4, i1 - i0, inChannels, arrays.lo, arrays.hi],
        })),
      );
      return this.finish(out, arrays, output, outChannels, epilogue);
    }
    const a = this.packedWeights(weight, 1, outChannels, inChannels);
    const bias = m.cached(this.biasOf(epilogue, outChannels));
    const inp = this.inputAt(arrays, input);
    const panels = m.alloc(Math.ceil(pixels / 8) * 8 * inChannels * 4);
    const out = this.outputAt(arrays, outChannels * pixels);
    const tiles = m.alloc(TILE_BYTES * this.threadCount);
    const macs = outChannels * pixels * inChannels;
    const { lo, hi } = arrays;
    if (outChannels < pixels) {
      // More pixels than channels (large maps): chunks of whole panels of 8 pixels, each packed
      // and multiplied by all of A (the weights, the smaller operand, read again by every chunk)
      // in one call.
      const slices = splitRange(pixels, this.chunksFor(macs, Math.ceil(pixels / 8)), 8);
      this.runCalls(
        slices.map(([p0, p1]) => ({
          kernel: 'packGemm',
          args: [inp + p0 * 4, pixels, inChannels, p1 - p0, panels + p0 * inChannels * 4, a, bias, out + p0 * 4, pixels, outChannels, lo, hi, tiles],
        })),
        { arg: 12, stride: TILE_BYTES },
      );
    } else {
      // More channels than pixels (small maps, many channels): B is packed once, then chunks of
      // rows of A (4 output channels at a time) each read all of B (the smaller operand).
      const packs = inChannels * pixels >= MIN_SPLIT_PACK_FLOATS ? splitRange(pixels, this.threadCount, 8) : [[0, pixels] as [number, number]];
      this.runCalls(packs.map(([p0, p1]) => ({ kernel: 'packPanels', args: [inp + p0 * 4, pixels, inChannels, p1 - p0, panels + p0 * inChannels * 4] })));
      const slices = splitRange(outChannels, this.chunksFor(macs, Math.ceil(outChannels / 4)), 4);
      this.runCalls(
        slices.map(([i0, i1]) => ({
          kernel: 'gemm',
          args: [a + i0 * inChannels * 4, panels, bias + i0 * 4, out + i0 * pixels * 4, pixels, i1 - i0, pixels, inChannels, lo, hi, tiles],
        })),
        { arg: 10, stride: TILE_BYTES },
      );
    }
    this.finish(out, arrays, output, outChannels * pixels, epilogue);
  }

  conv2d(input: Float32Array, weight: Float32Array, output: Float32Array, g: ConvGeometry, epilogue: Epilogue): void {
    if (epilogue.scale) return jsKernels.conv2d(input, weight, output, g, epilogue);
    const arrays = this.begin(input, output, epilogue);
    const m = this.memory;
    const groupIn = g.inChannels / g.groups;
    const groupOut = g.outChannels / g.groups;
    const rows = groupIn * g.kernelHeight * g.kernelWidth;
    const wt = this.packedWeights(weight, g.groups, groupOut, rows);
    const groupBytes = this.k.packedRowsBytes(groupOut, rows);
    const bias = m.cached(this.biasOf(epilogue, g.outChannels));
    const inp = this.inputAt(arrays, input);
    const pixels = g.outHeight * g.outWidth;
    const out = this.outputAt(arrays, g.outChannels * pixels);
    // Pixels per GEMM call: a multiple of 8 (whole panels) within the panel budget.
    const chunk = Math.max(8, Math.floor(PANEL_BUDGET_FLOATS / rows / 8) * 8);
    const panels = m.alloc(Math.min(Math.ceil(pixels / 8) * 8, chunk) * rows * 4);
    const tiles = m.alloc(TILE_BYTES * this.threadCount);
    const inPlaneBytes = g.inHeight * g.inWidth * 4;
    for (let group = 0; group < g.groups; group++) {
      const groupInput = inp + group * groupIn * inPlaneBytes;
      for (let p0 = 0; p0 < pixels; p0 += chunk) {
        const p1 = Math.min(pixels, p0 + chunk);
        // Chunks of whole panels of 8 pixels, each im2col'd straight into its part of the panels
        // and multiplied in one call. Every output is computed by the same micro-kernel in the
        // same order whatever the split: equal bit for bit at every thread count.
        const slices = splitRange(p1 - p0, this.chunksFor((p1 - p0) * groupOut * rows, Math.ceil((p1 - p0) / 8)), 8);
        this.runCalls(
          slices.map(([q0, q1]) => ({
            kernel: 'im2colGemm',
            args: [
              groupInput,
              groupIn,
              g.inHeight,
              g.inWidth,
              g.outWidth,
              g.kernelHeight,
              g.kernelWidth,
              g.strideHeight,
              g.strideWidth,
              g.dilationHeight,
              g.dilationWidth,
              g.padTop,
              g.padLeft,
              p0 + q0,
              p0 + q1,
              panels + q0 * rows * 4,
              wt + group * groupBytes,
              bias + group * groupOut * 4,
              out + (group * groupOut * pixels + p0 + q0) * 4,
              pixels,
              groupOut,
              arrays.lo,
              arrays.hi,
              tiles,
            ],
          })),
          { arg: 23, stride: TILE_BYTES },
        );
      }
    }
    this.finish(out, arrays, output, g.outChannels * pixels, epilogue);
  }

  activationBuffers(floats: readonly number[]): Array<() => Float32Array> {
    return this.memory.activationBuffers(floats);
  }

  beginRun(): void {
    this.memory.forgetWeights();
  }

  /**
   * Index of the first NaN or +-Infinity in `data`, or -1: a SIMD scan, in place when `data` lives
   * in the module's memory, else chunk by chunk through it.
   */
  firstNonFinite(data: Float32Array): number {
    const m = this.memory;
    const at = m.pointerOf(data);
    if (at >= 0) return this.k.firstNonFinite(at, data.length);
    m.begin();
    const chunk = Math.min(data.length, SCAN_CHUNK_FLOATS);
    const buffer = m.alloc(chunk * 4);
    for (let start = 0; start < data.length; start += chunk) {
      const part = data.subarray(start, start + chunk);
      m.f32.set(part, buffer / 4);
      const bad = this.k.firstNonFinite(buffer, part.length);
      if (bad >= 0) return start + bad;
    }
    return -1;
  }

  epilogue(data: Float32Array, channels: number, pixels: number, epilogue: Epilogue): void {
    // One pass over memory either way: copying in and out of the module would cost more than it saves.
    epilogueInPlace(data, channels, pixels, epilogue);
  }
}

/** Options of {@link createWasmKernels}. */
export interface WasmKernelOptions {
  /**
   * Threads a step may be split over (the calling thread included). Above 1 the kernels run
   * from the shared-memory binary over a pool of threads; where that cannot be (no shared
   * memory, no threads), they run on one thread.
   */
  threads?: number;
  /** The shared-memory binary (default: the embedded one). */
  sharedBinary?: Uint8Array;
  /**
   * Split every step that is large enough over the pool, even after a pool thread held steps up
   * (by default steps then run on the calling thread alone for a while; see KernelThreads.ready).
   * For tests of the split itself.
   */
  alwaysSplit?: boolean;
}

/**
 * Instantiates the SIMD kernels from a binary (the embedded one by default), each call a new
 * instance with a memory of its own (and a pool of threads of its own when `threads` > 1).
 * Resolves to undefined when there is no binary or this runtime lacks WebAssembly SIMD.
 */
export async function createWasmKernels(
  binary: Uint8Array | undefined = embeddedKernelBinaryOnce(),
  options: WasmKernelOptions = {},
): Promise<CpuKernels | undefined> {
  if ((options.threads ?? 1) > 1) {
    const threaded = await createThreadedKernels(options.threads!, options.sharedBinary ?? embeddedSharedOnce(), options.alwaysSplit ?? false);
    if (threaded) return threaded;
  }
  const module = binary === embeddedKernelBinaryOnce() ? await compiledEmbedded() : await compileKernels(binary);
  if (!module) return undefined;
  const instance = await WebAssembly.instantiate(module, {});
  const exports = instance.exports as unknown as KernelExports;
  return new WasmSimdKernels(exports, exports.memory);
}

/** The kernels over a shared memory with a pool of `threads - 1` threads, or undefined where that cannot run. */
async function createThreadedKernels(threads: number, sharedBinary: Uint8Array | undefined, alwaysSplit: boolean): Promise<WasmSimdKernels | undefined> {
  if (typeof SharedArrayBuffer !== 'function') return undefined;
  try {
    const module = await compileKernels(sharedBinary);
    if (!module) return undefined;
    const memory = new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: SHARED_MAXIMUM_PAGES, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const pool = await KernelThreads.start(module, memory, threads);
    if (!pool) return undefined;
    pool.adaptive = !alwaysSplit;
    return new WasmSimdKernels(instance.exports as unknown as KernelExports, memory, pool);
  } catch {
    return undefined;
  }
}

async function compileKernels(binary: Uint8Array | undefined): Promise<WebAssembly.Module | undefined> {
  if (!binary || typeof WebAssembly !== 'object') return undefined;
  // A copy with its own ArrayBuffer: what the WebAssembly API's types ask for.
  const bytes = new Uint8Array(binary);
  if (!WebAssembly.validate(bytes)) return undefined;
  return WebAssembly.compile(bytes);
}

let embedded: Uint8Array | undefined | null = null;
/** The embedded binary, decoded once. */
function embeddedKernelBinaryOnce(): Uint8Array | undefined {
  if (embedded === null) embedded = embeddedKernelBinary();
  return embedded;
}

let embeddedShared: Uint8Array | undefined | null = null;
/** The embedded shared-memory binary, decoded once. */
function embeddedSharedOnce(): Uint8Array | undefined {
  if (embeddedShared === null) embeddedShared = embeddedSharedKernelBinary();
  return embeddedShared;
}

let compiling: Promise<WebAssembly.Module | undefined> | undefined;
/** The embedded kernels compiled once per thread (instances are cheap; compiling is not). */
function compiledEmbedded(): Promise<WebAssembly.Module | undefined> {
  compiling ??= compileKernels(embeddedKernelBinaryOnce()).catch(() => undefined);
  return compiling;
}

/**
 * SIMD kernels of their own for a prepared model: the packed weights and activation buffers in
 * their memory belong to that model alone and live as long as it does, and so does their pool
 * of threads (`threads` > 1). Undefined where the embedded kernels cannot run.
 */
export async function createPrivateWasmKernels(threads = 1): Promise<CpuKernels | undefined> {
  try {
    return await createWasmKernels(embeddedKernelBinaryOnce(), { threads });
  } catch {
    return undefined;
  }
}

const loading = new Map<number, Promise<CpuKernels | undefined>>();

/**
 * The embedded SIMD kernels shared by `forward()` calls with the same thread count, instantiated
 * once per thread count; undefined where they cannot run. The single-thread ones also take over
 * the NaN/Inf scan of the weight and input checks (see setNonFiniteScan).
 */
export function loadWasmKernels(threads = 1): Promise<CpuKernels | undefined> {
  let kernels = loading.get(threads);
  if (!kernels) {
    kernels = createWasmKernels(embeddedKernelBinaryOnce(), { threads })
      .then((created) => {
        if (threads === 1 && created instanceof WasmSimdKernels) setNonFiniteScan((data) => created.firstNonFinite(data));
        return created;
      })
      .catch(() => undefined);
    loading.set(threads, kernels);
  }
  return kernels;
}

/** Stops the thread pool of kernels made by {@link createPrivateWasmKernels}, if they have one. */
export function disposeWasmKernels(kernels: CpuKernels): void {
  if (kernels instanceof WasmSimdKernels) kernels.dispose();
}
