/**
 * The WebAssembly SIMD implementation of {@link CpuKernels}: the hot loops (GEMM for pointwise
 * and im2col convolutions, the depthwise convolution) run in kernels compiled from
 * ./assembly/kernels.ts; this module moves the NCHW arrays in and out of the module's memory and
 * finishes the epilogues the kernels do not fuse (activations other than ReLU/ReLU6, residual
 * adds). Where WebAssembly SIMD is missing, {@link loadWasmKernels} resolves to undefined and the
 * plain-JS kernels stay in use.
 *
 * Imports neither `vscode`, the DOM nor node modules: the same code runs in the extension host's
 * worker, a Web Worker and the tests.
 */
import { activateRange, type ActivationKind } from '../activation';
import type { ConvGeometry, CpuKernels, Epilogue } from '../kernels/cpuKernels';
import { epilogueInPlace } from '../kernels/epilogue';
import { jsKernels } from '../kernels/jsKernels';
import { setNonFiniteScan } from '../../weights';

/** The kernels' exports (see assembly/kernels.ts for what each computes). */
interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  packedRowsBytes(m: number, k: number): number;
  packRows(a: number, m: number, k: number, dst: number): void;
  gemm(ap: number, bp: number, bias: number, c: number, ldc: number, m: number, n: number, k: number, lo: number, hi: number, tile: number): void;
  gemv(a: number, x: number, bias: number, out: number, m: number, k: number, lo: number, hi: number): void;
  packPanels(src: number, ld: number, k: number, n: number, dst: number): void;
  im2colPanels(inp: number, cin: number, h: number, w: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, p0: number, p1: number, dst: number): void;
  depthwiseScratchFloats(h: number, w: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number): number;
  firstNonFinite(p: number, n: number): number;
  depthwise(inp: number, channels: number, multiplier: number, h: number, w: number, wt: number, bias: number, out: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, pt: number, pl: number, lo: number, hi: number, scratch: number): void;
}

/** The binary embedded by esbuild.mjs (base64), absent when the source runs unbundled (tests). */
declare const __SEPCONV_KERNELS_WASM__: string | undefined;

/** The embedded kernel binary, if this bundle has one. */
export function embeddedKernelBinary(): Uint8Array | undefined {
  if (typeof __SEPCONV_KERNELS_WASM__ === 'undefined') return undefined;
  const text = atob(__SEPCONV_KERNELS_WASM__);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

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

/**
 * The module's memory: weights cached by array identity at the bottom (within one run of a plan
 * the same arrays come back for every image of the batch), one call's buffers above them, reset
 * at the start of every call. The cache starts over with every run (beginRun).
 */
class WasmMemory {
  private readonly base: number;
  private cacheTop: number;
  private top: number;
  private caches = new Map<string, WeakMap<Float32Array, number>>();
  private view: Float32Array;

  constructor(private readonly exports: KernelExports) {
    this.base = align(exports.heapBase());
    this.cacheTop = this.base;
    this.top = this.base;
    this.view = new Float32Array(exports.memory.buffer);
  }

  /** A view of the whole memory (made again after the memory grows). */
  get f32(): Float32Array {
    if (this.view.buffer !== this.exports.memory.buffer) this.view = new Float32Array(this.exports.memory.buffer);
    return this.view;
  }

  /** Starts a call: forgets the previous call's buffers (and the weight cache when it is full). */
  begin(): void {
    if (this.cacheTop - this.base > WEIGHT_CACHE_BYTES) this.forgetWeights();
    this.top = this.cacheTop;
  }

  /** Drops every cached weight (a new run: the caller may have changed the arrays' values). */
  forgetWeights(): void {
    this.caches = new Map();
    this.cacheTop = this.base;
    this.top = this.base;
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
    const have = this.exports.memory.buffer.byteLength;
    if (end > have) this.exports.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
  }
}

/** The tile the GEMM writes partial tiles through (4 x 8 floats). */
const TILE_BYTES = 128;

class WasmSimdKernels implements CpuKernels {
  readonly name = 'wasm-simd';
  private readonly memory: WasmMemory;
  private readonly zeros = new Map<number, Float32Array>();

  constructor(private readonly k: KernelExports) {
    this.memory = new WasmMemory(k);
  }

  private biasOf(epilogue: Epilogue, channels: number): Float32Array {
    if (epilogue.bias) return epilogue.bias;
    let zeros = this.zeros.get(channels);
    if (!zeros) this.zeros.set(channels, (zeros = new Float32Array(channels)));
    return zeros;
  }

  /** Starts a kernel call: the clamp the kernel fuses (none: the JS epilogue applies the activation). */
  private begin(epilogue: Epilogue): { lo: number; hi: number } {
    this.memory.begin();
    const [lo, hi] = fusedClamp(epilogue.activation) ?? [-Infinity, Infinity];
    return { lo, hi };
  }

  /** Copies the result out of the module's memory and applies what the kernel did not fuse. */
  private finish(out: number, output: Float32Array, channels: number, pixels: number, epilogue: Epilogue): void {
    output.set(this.memory.f32.subarray(out / 4, out / 4 + channels * pixels));
    if (!fusedClamp(epilogue.activation)) activateRange(epilogue.activation, output, 0, output.length);
    if (epilogue.residual) epilogueInPlace(output, channels, pixels, { activation: 'none', residual: epilogue.residual });
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
    const { lo, hi } = this.begin(epilogue);
    const m = this.memory;
    const wt = m.cached(weight);
    const bias = m.cached(this.biasOf(epilogue, g.outChannels));
    const inp = m.put(input);
    const outPlane = g.outHeight * g.outWidth;
    // 4 floats of slack: rows are written as whole vectors (see the kernel).
    const out = m.alloc((g.outChannels * outPlane + 4) * 4);
    const scratchFloats = this.k.depthwiseScratchFloats(g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.kernelHeight, g.kernelWidth,
      g.strideHeight, g.strideWidth, g.dilationHeight, g.dilationWidth, g.padTop, g.padLeft);
    const scratch = m.alloc(scratchFloats * 4);
    this.k.depthwise(inp, g.inChannels, g.outChannels / g.inChannels, g.inHeight, g.inWidth, wt, bias, out, g.outHeight, g.outWidth,
      g.kernelHeight, g.kernelWidth, g.strideHeight, g.strideWidth, g.dilationHeight, g.dilationWidth, g.padTop, g.padLeft, lo, hi, scratch);
    this.finish(out, output, g.outChannels, outPlane, epilogue);
  }

  pointwiseConv2d(input: Float32Array, weight: Float32Array, output: Float32Array, inChannels: number, outChannels: number, pixels: number, epilogue: Epilogue): void {
    if (epilogue.scale) return jsKernels.pointwiseConv2d(input, weight, output, inChannels, outChannels, pixels, epilogue);
    const { lo, hi } = this.begin(epilogue);
    const m = this.memory;
    if (pixels === 1) {
      // One pixel (a Linear layer): a matrix-vector product, straight from the weights as they are.
      const a = m.cached(weight);
      const bias = m.cached(this.biasOf(epilogue, outChannels));
      const x = m.put(input);
      const out = m.alloc(outChannels * 4);
      this.k.gemv(a, x, bias, out, outChannels, inChannels, lo, hi);
      return this.finish(out, output, outChannels, 1, epilogue);
    }
    const a = this.packedWeights(weight, 1, outChannels, inChannels);
    const bias = m.cached(this.biasOf(epilogue, outChannels));
    const inp = m.put(input);
    const panels = m.alloc(Math.ceil(pixels / 8) * 8 * inChannels * 4);
    const out = m.alloc(outChannels * pixels * 4);
    const tile = m.alloc(TILE_BYTES);
    this.k.packPanels(inp, pixels, inChannels, pixels, panels);
    this.k.gemm(a, panels, bias, out, pixels, outChannels, pixels, inChannels, lo, hi, tile);
    this.finish(out, output, outChannels, pixels, epilogue);
  }

  conv2d(input: Float32Array, weight: Float32Array, output: Float32Array, g: ConvGeometry, epilogue: Epilogue): void {
    if (epilogue.scale) return jsKernels.conv2d(input, weight, output, g, epilogue);
    const { lo, hi } = this.begin(epilogue);
    const m = this.memory;
    const groupIn = g.inChannels / g.groups;
    const groupOut = g.outChannels / g.groups;
    const rows = groupIn * g.kernelHeight * g.kernelWidth;
    const wt = this.packedWeights(weight, g.groups, groupOut, rows);
    const groupBytes = this.k.packedRowsBytes(groupOut, rows);
    const bias = m.cached(this.biasOf(epilogue, g.outChannels));
    const inp = m.put(input);
    const pixels = g.outHeight * g.outWidth;
    const out = m.alloc(g.outChannels * pixels * 4);
    // Pixels per GEMM call: a multiple of 8 (whole panels) within the panel budget.
    const chunk = Math.max(8, Math.floor(PANEL_BUDGET_FLOATS / rows / 8) * 8);
    const panels = m.alloc(Math.min(Math.ceil(pixels / 8) * 8, chunk) * rows * 4);
    const tile = m.alloc(TILE_BYTES);
    const inPlaneBytes = g.inHeight * g.inWidth * 4;
    for (let group = 0; group < g.groups; group++) {
      for (let p0 = 0; p0 < pixels; p0 += chunk) {
        const p1 = Math.min(pixels, p0 + chunk);
        this.k.im2colPanels(inp + group * groupIn * inPlaneBytes, groupIn, g.inHeight, g.inWidth, g.outWidth, g.kernelHeight, g.kernelWidth,
          g.strideHeight, g.strideWidth, g.dilationHeight, g.dilationWidth, g.padTop, g.padLeft, p0, p1, panels);
        this.k.gemm(wt + group * groupBytes, panels, bias + group * groupOut * 4, out + (group * groupOut * pixels + p0) * 4, pixels,
          groupOut, p1 - p0, rows, lo, hi, tile);
      }
    }
    this.finish(out, output, g.outChannels, pixels, epilogue);
  }

  beginRun(): void {
    this.memory.forgetWeights();
  }

  /** Index of the first NaN or +-Infinity in `data`, or -1: a SIMD scan, chunk by chunk through the module's memory. */
  firstNonFinite(data: Float32Array): number {
    const m = this.memory;
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

/**
 * Instantiates the SIMD kernels from a binary (the embedded one by default). Resolves to
 * undefined when there is no binary or this runtime lacks WebAssembly SIMD.
 */
export async function createWasmKernels(binary: Uint8Array | undefined = embeddedKernelBinary()): Promise<CpuKernels | undefined> {
  if (!binary || typeof WebAssembly !== 'object') return undefined;
  // A copy with its own ArrayBuffer: what the WebAssembly API's types ask for.
  const bytes = new Uint8Array(binary);
  if (!WebAssembly.validate(bytes)) return undefined;
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return new WasmSimdKernels(instance.exports as unknown as KernelExports);
}

let loading: Promise<CpuKernels | undefined> | undefined;

/**
 * The embedded SIMD kernels, instantiated once per thread; undefined where they cannot run.
 * They also take over the NaN/Inf scan of the weight and input checks (see setNonFiniteScan).
 */
export function loadWasmKernels(): Promise<CpuKernels | undefined> {
  loading ??= createWasmKernels().then((kernels) => {
    if (kernels instanceof WasmSimdKernels) setNonFiniteScan((data) => kernels.firstNonFinite(data));
    return kernels;
  }).catch(() => undefined);
  return loading;
}
