/**
 * The CPU kernel interface: the few operations the CPU backend's plan is made of. The plain-JS
 * implementation is `jsKernels`; a WebAssembly SIMD implementation plugs in with
 * {@link setCpuKernels} and the same signatures.
 *
 * Conventions every implementation follows:
 * - One image at a time (the backend loops over the batch). Activations are one image's
 *   `[C, H, W]`, contiguous, row-major; the arrays passed are exactly that image (views made
 *   with `subarray`, so `byteOffset` may be non-zero).
 * - Weights are PyTorch's layout: conv `[Cout, Cin / groups, kh, kw]`, already with BatchNorm
 *   folded in where the plan could fold it. The same weight arrays are passed on every call of
 *   a plan, so an implementation may cache a packed copy keyed by the array (e.g. a WeakMap).
 * - Convolutions see zero padding only: the backend materialises reflect/replicate/circular
 *   padding first and then calls them with pads 0.
 * - Every kernel writes all of `output` (no accumulation into what was there) and then applies
 *   the epilogue to each output element while it is still in cache:
 *   `out = activation(sum * scale[c] + bias[c]) + residual[i]`
 *   (scale absent = 1, bias absent = 0, residual absent = 0; `i` is the element's index in
 *   `output`, `c` its output channel). Conv kernels never get a `scale` (the plan folds it).
 * - Results must match the reference kernels (reference.ts) within float32 rounding; the
 *   property tests in test/unit/engineKernels.test.ts check any implementation handed to them.
 */
import type { ActivationKind } from '../../activationKind';

export interface Epilogue {
  /** Per output channel, added to the sum (the conv bias with BatchNorm folded in). */
  bias?: Float32Array;
  /** Per output channel, multiplies the sum before the bias (standalone BatchNorm only). */
  scale?: Float32Array;
  activation: ActivationKind;
  /** LeakyReLU's slope for x < 0 (default 0.01). */
  negativeSlope?: number;
  /** Same size as the output: added after the activation (the residual skip). */
  residual?: Float32Array;
}

/** The shape of one image's convolution, with zero padding before (after is implied by the output size). */
export interface ConvGeometry {
  inChannels: number;
  outChannels: number;
  groups: number;
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

export interface CpuKernels {
  /** Shown in results ("cpu (js)", "cpu (wasm-simd)"). */
  readonly name: string;
  /**
   * Depthwise conv: groups == inChannels, outChannels = inChannels * multiplier; output channel
   * `o` reads input channel `floor(o / multiplier)` with the kernel `weight[o]` (kh * kw values).
   * Any kernel size, stride, dilation and zero padding.
   */
  depthwiseConv2d(input: Float32Array, weight: Float32Array, output: Float32Array, geometry: ConvGeometry, epilogue: Epilogue): void;
  /**
   * Pointwise conv (1x1, stride 1, no padding, groups 1) as a GEMM:
   * `output[co * pixels + p] = sum_ci weight[co * inChannels + ci] * input[ci * pixels + p]`.
   */
  pointwiseConv2d(
    input: Float32Array,
    weight: Float32Array,
    output: Float32Array,
    inChannels: number,
    outChannels: number,
    pixels: number,
    epilogue: Epilogue,
  ): void;
  /** Every other conv (standard, grouped, strided or padded 1x1): any geometry with zero padding. */
  conv2d(input: Float32Array, weight: Float32Array, output: Float32Array, geometry: ConvGeometry, epilogue: Epilogue): void;
  /** The epilogue alone, in place over `[channels, pixels]`: standalone BatchNorm, activation, residual add. */
  epilogue(data: Float32Array, channels: number, pixels: number, epilogue: Epilogue): void;
  /**
   * Called by `forward()` before its one run: caches keyed by weight arrays must start over
   * here, since callers may change a weight array's values between two forward calls. A prepared
   * model (see cpuBackend.ts) never calls it: its weights are fixed once prepared, so packed
   * copies made on its first run serve every later one.
   */
  beginRun?(): void;
  /**
   * Buffers for a run's activations in memory the kernels read and write in place (the
   * WebAssembly kernels: their module's memory, so no copy in or out between steps). Called at
   * the start of every run with the floats each buffer must hold; each getter returns a view of
   * its buffer. A view may go stale when a kernel call grows the memory, so callers take a fresh
   * one from the getter whenever a kernel may have run since. The buffers hold until the next
   * call of this method or of {@link beginRun}. Without this method the backend uses plain
   * Float32Arrays, kept from one run to the next.
   */
  activationBuffers?(floats: readonly number[]): Array<() => Float32Array>;
  /** Tells threads of the kernels' own that a run's steps come soon (they wake while the caller copies the input in). */
  wake?(): void;
  /** Tells threads of the kernels' own that the run's steps are over (they sleep while the caller copies the output out). */
  park?(): void;
  /** Index of the first NaN or infinity in `data`, or -1; in place when `data` is one of the {@link activationBuffers}. */
  firstNonFinite?(data: Float32Array): number;
}

let installed: CpuKernels | undefined;

/** Installs the kernels the CPU backend uses from now on (undefined: back to the plain-JS ones). */
export function setCpuKernels(kernels: CpuKernels | undefined): void {
  installed = kernels;
}

/** The kernels installed with {@link setCpuKernels}, if any. */
export function installedCpuKernels(): CpuKernels | undefined {
  return installed;
}
