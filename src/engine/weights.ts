/**
 * Weights: checking a state_dict against a model before anything runs, and making weights
 * when the user has none (seeded Kaiming-uniform as PyTorch initialises, or hand-made filters
 * that make feature maps readable).
 */
import { parameterShapes, type ResolvedConv2d, type ResolvedConvTranspose2d, type ResolvedModel, type TensorSpec } from '../shared/spec';
import { elementCount, type Tensor } from '../shared/tensor';
import { FILTER_NAMES, type FilterName, type WeightSource } from '../shared/protocol';
import { EngineInputError, layerPathOf } from './errors';
import type { WeightMap } from './types';

const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** The module prefix of a state_dict key: "3.conv.1.0.weight" -> "3.conv.1.0". */
function moduleKey(key: string): string {
  return key.slice(0, key.lastIndexOf('.'));
}

let fastScan: ((data: Float32Array) => number) | undefined;

/**
 * Installs a faster scan for {@link firstNonFinite} (the WebAssembly SIMD one, about 8x the plain
 * loop: checking MobileNetV1's 4.2M weights on every forward call is otherwise ~7 ms).
 */
export function setNonFiniteScan(scan: ((data: Float32Array) => number) | undefined): void {
  fastScan = scan;
}

/** Below this many values the plain loop is as fast as copying into the SIMD scan. */
const FAST_SCAN_MIN = 4096;

/** The index and value of the first NaN or infinite element, if any. */
export function firstNonFinite(data: Float32Array): number {
  if (fastScan && data.length >= FAST_SCAN_MIN) return fastScan(data);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/**
 * The input error for the NaN or infinity at index `bad` of input data of `shape` (n, c, y and x
 * named), if `bad` is not -1.
 */
export function throwIfNonFinite(shape: readonly number[], data: Float32Array, bad: number, firstLayer = 'layers[0]'): void {
  if (bad < 0) return;
  const [, c, h, w] = shape as [number, number, number, number];
  const at = [Math.floor(bad / (c * h * w)), Math.floor(bad / (h * w)) % c, Math.floor(bad / w) % h, bad % w];
  throw new EngineInputError(firstLayer, 'input', `element ${bad} (n=${at[0]}, c=${at[1]}, y=${at[2]}, x=${at[3]}) is ${data[bad]}`);
}

/**
 * Where a module sits in the spec: `layers[3].conv.1.0` in the chain form, `nodes[2] (branch2).0`
 * in the graph form (whose keys start with the node's name).
 */
export function modulePath(model: ResolvedModel, key: string): string {
  if (model.form !== 'graph') return layerPathOf(key);
  let best: { index: number; key: string } | undefined;
  for (const layer of model.layers) {
    if ((key === layer.key || key.startsWith(`${layer.key}.`)) && (!best || layer.key.length > best.key.length)) best = layer;
  }
  if (!best) return layerPathOf(key);
  return `nodes[${best.index}] (${best.key})${key.slice(best.key.length)}`;
}

/**
 * Checks that `weights` has every tensor the model needs, each a Float32Array of the right shape
 * with finite values (and non-negative running variances). Extra keys (num_batches_tracked, ...)
 * are ignored. Throws an {@link EngineInputError} naming the layer path and the tensor.
 */
export function validateWeights(model: ResolvedModel, weights: WeightMap): void {
  if (typeof weights !== 'object' || weights === null) throw new EngineInputError('model', 'weights', 'must be an object mapping state_dict names to tensors');
  for (const spec of parameterShapes(model)) {
    const path = modulePath(model, moduleKey(spec.key));
    const fail = (reason: string): never => {
      throw new EngineInputError(path, spec.key, reason);
    };
    const tensor: unknown = Object.prototype.hasOwnProperty.call(weights, spec.key) ? weights[spec.key] : undefined;
    if (tensor === undefined) fail(`is missing (expected shape ${formatShape(spec.shape)})`);
    const { shape, data } = tensor as Partial<Tensor>;
    if (!Array.isArray(shape)) fail('has no shape');
    if (!(data instanceof Float32Array)) fail('must hold its values in a Float32Array');
    if (shape!.length !== spec.shape.length || shape!.some((d, i) => d !== spec.shape[i])) {
      fail(`has shape ${formatShape(shape!)}, expected ${formatShape(spec.shape)}`);
    }
    if (data!.length !== elementCount(spec.shape)) fail(`has ${data!.length} values for shape ${formatShape(spec.shape)} (${elementCount(spec.shape)})`);
    const bad = firstNonFinite(data!);
    if (bad >= 0) fail(`element ${bad} is ${data![bad]}`);
    if (spec.key.endsWith('.running_var')) {
      const negative = data!.findIndex((v) => v < 0);
      if (negative >= 0) fail(`variance ${negative} is negative (${data![negative]})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded initialisation

/** FNV-1a over the key, mixed with the seed: each tensor gets its own stream. */
function hashSeed(seed: number, key: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** mulberry32: a small, fast 32-bit PRNG; uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fanIn(model: ResolvedModel, moduleKeyName: string): number {
  for (const { node } of model.leaves) {
    if (node.key !== moduleKeyName) continue;
    if (node.op === 'conv2d') return (node.inChannels / node.groups) * node.kernel[0] * node.kernel[1];
    if (node.op === 'linear') return node.inFeatures;
    // PyTorch's fan_in of a [Cin, Cout / groups, kh, kw] weight: dim 1 times the kernel.
    if (node.op === 'convtranspose2d') return (node.outChannels / node.groups) * node.kernel[0] * node.kernel[1];
  }
  throw new Error(`internal: no conv or linear module at ${moduleKeyName}`);
}

export interface InitOptions {
  /** Same seed, same numbers, every run and on every machine. An integer in [0, 2^32): the generator keeps 32 bits. */
  seed: number;
}

/** Seeds are below this: the generator's state is 32 bits, and a larger seed would repeat a smaller one's weights. */
export const SEED_LIMIT = 2 ** 32;

/** Why `seed` cannot seed {@link initWeights}, or undefined. */
function seedProblem(seed: unknown): string | undefined {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0) return `the seed must be a non-negative integer, got ${String(seed)}`;
  if (seed >= SEED_LIMIT)
    return `the seed must be below 2^32 = ${SEED_LIMIT} (the generator keeps 32 bits, so a larger seed would repeat the weights of a smaller one), got ${seed}`;
  return undefined;
}

/**
 * Weights initialised as PyTorch initialises Conv2d and Linear: kaiming_uniform_(a=sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases; BatchNorm weight 1, bias 0,
 * running mean 0, running variance 1. The generator is our own (mulberry32, one stream per
 * tensor seeded from the seed and the tensor's name, so editing one layer leaves the others'
 * numbers alone); it is not torch's stream.
 */
export function initWeights(model: ResolvedModel, options: InitOptions): WeightMap {
  const problem = seedProblem(options.seed);
  if (problem) throw new RangeError(problem);
  const weights: WeightMap = {};
  for (const spec of parameterShapes(model)) {
    const data = new Float32Array(elementCount(spec.shape));
    const field = spec.key.slice(spec.key.lastIndexOf('.') + 1);
    const owner = model.leaves.find((leaf) => leaf.node.key === moduleKey(spec.key))?.node;
    if (owner?.op === 'batchnorm2d') {
      if (field === 'weight' || field === 'running_var') data.fill(1);
    } else {
      const bound = 1 / Math.sqrt(fanIn(model, moduleKey(spec.key)));
      const random = mulberry32(hashSeed(options.seed, spec.key));
      for (let i = 0; i < data.length; i++) data[i] = (random() * 2 - 1) * bound;
    }
    weights[spec.key] = { shape: [...spec.shape], data };
  }
  return weights;
}

// ---------------------------------------------------------------------------------------------
// Hand-made filters

const FILTER_ALIASES: Record<string, FilterName> = { sobel: 'sobel_x', box: 'box_blur', blur: 'box_blur', gaussian: 'gaussian_blur' };

/** A filter name or alias ("sobel" = sobel_x, "box"/"blur" = box_blur, "gaussian" = gaussian_blur). */
export function parseFilterName(name: string): FilterName {
  const found = (FILTER_NAMES as readonly string[]).includes(name) ? (name as FilterName) : FILTER_ALIASES[name];
  if (!found) throw new Error(`unknown filter "${name}" (known: ${[...FILTER_NAMES, ...Object.keys(FILTER_ALIASES)].join(', ')})`);
  return found;
}

function binomial(length: number): number[] {
  let row = [1];
  for (let i = 1; i < length; i++) row = [...row, 0].map((v, j) => v + (j > 0 ? row[j - 1]! : 0));
  return row;
}

function convolve1d(a: number[], b: number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j] = out[i + j]! + x * y)));
  return out;
}

/** First derivative (right minus left) of length k >= 2: [-1, 1], [-1, 0, 1], smoothed beyond. */
function derivative(k: number): number[] {
  return k === 2 ? [-1, 1] : convolve1d([-1, 0, 1], binomial(k - 2));
}
/** Second derivative of length k >= 3: [1, -2, 1], smoothed beyond. */
function secondDerivative(k: number): number[] {
  return convolve1d([1, -2, 1], binomial(k - 2));
}
/** The smoothing that goes across a second derivative: a delta for k = 3, a binomial framed by zeros beyond. */
function frameSmoothing(k: number): number[] {
  const inner = binomial(k - 2);
  const total = inner.reduce((a, b) => a + b, 0);
  return [0, ...inner.map((v) => v / total), 0];
}

const outer = (rows: number[], cols: number[]): number[] => rows.flatMap((r) => cols.map((c) => r * c));
const delta = (kh: number, kw: number): number[] => {
  const k = new Array<number>(kh * kw).fill(0);
  k[Math.floor((kh - 1) / 2) * kw + Math.floor((kw - 1) / 2)] = 1;
  return k;
};
/** Scales a zero-sum kernel so its absolute values add up to 8, as the classic 3x3 Sobel and Laplacian do. */
const toClassicScale = (k: number[]): number[] => {
  const total = k.reduce((a, b) => a + Math.abs(b), 0);
  return total === 0 ? k : k.map((v) => (v * 8) / total);
};

/**
 * A kh x kw filter, row-major. At 3x3 these are the textbook kernels (Sobel [-1 0 1; -2 0 2; -1 0 1],
 * Laplacian [0 1 0; 1 -4 1; 0 1 0], sharpen = identity - Laplacian, emboss [-2 -1 0; -1 1 1; 0 1 2]).
 * Other sizes use the same construction at that size: binomial smoothing across derivative
 * stencils, scaled to the 3x3 kernel's strength; Gaussian sigma follows OpenCV's rule for the
 * size (0.3 * ((k - 1) / 2 - 1) + 0.8). A dimension too small for a derivative (1, or 2 for the
 * Laplacian) falls back to the identity, so a 1x1 kernel is always the identity.
 */
export function makeFilter(name: FilterName, kh: number, kw: number): Float32Array {
  const identity = delta(kh, kw);
  let k: number[];
  switch (name) {
    case 'identity':
      k = identity;
      break;
    case 'box_blur':
      k = new Array<number>(kh * kw).fill(1 / (kh * kw));
      break;
    case 'gaussian_blur': {
      const profile = (n: number) => {
        const sigma = 0.3 * ((n - 1) / 2 - 1) + 0.8;
        const values = Array.from({ length: n }, (_, i) => Math.exp(-((i - (n - 1) / 2) ** 2) / (2 * sigma * sigma)));
        const total = values.reduce((a, b) => a + b, 0);
        return values.map((v) => v / total);
      };
      k = outer(profile(kh), profile(kw));
      break;
    }
    case 'sobel_x':
      k = kw < 2 ? identity : toClassicScale(outer(binomial(kh), derivative(kw)));
      break;
    case 'sobel_y':
      k = kh < 2 ? identity : toClassicScale(outer(derivative(kh), binomial(kw)));
      break;
    case 'laplacian':
    case 'sharpen': {
      if (kh < 3 && kw < 3) {
        k = identity;
        break;
      }
      const horizontal = kw >= 3 ? outer(kh >= 3 ? frameSmoothing(kh) : delta(kh, 1), secondDerivative(kw)) : new Array<number>(kh * kw).fill(0);
      const vertical = kh >= 3 ? outer(secondDerivative(kh), kw >= 3 ? frameSmoothing(kw) : delta(1, kw)) : new Array<number>(kh * kw).fill(0);
      const laplacian = toClassicScale(horizontal.map((v, i) => v + vertical[i]!)).map((v) => v * (kh >= 3 && kw >= 3 ? 1 : 0.5));
      k = name === 'laplacian' ? laplacian : identity.map((v, i) => v - laplacian[i]!);
      break;
    }
    case 'emboss': {
      // Identity plus a diagonal ramp (row offset + column offset from the centre), 1 per step at 3x3.
      const cy = (kh - 1) / 2;
      const cx = (kw - 1) / 2;
      const step = Math.max(cy, cx, 0.5);
      k = identity.map((v, i) => v + (Math.floor(i / kw) - cy + (i % kw) - cx) / step);
      break;
    }
  }
  return Float32Array.from(k);
}

/**
 * Channel mixing that keeps maps readable: output channel o copies input channel
 * floor(o * cin / cout) when widening, and averages the inputs that map to it when narrowing
 * (input i goes to floor(i * cout / cin)); with cin == cout, the identity.
 */
function channelMixing(cout: number, cin: number): Float32Array {
  const mix = new Float32Array(cout * cin);
  if (cout >= cin) {
    for (let o = 0; o < cout; o++) mix[o * cin + Math.floor((o * cin) / cout)] = 1;
  } else {
    const counts = new Array<number>(cout).fill(0);
    for (let i = 0; i < cin; i++) counts[Math.floor((i * cout) / cin)]!++;
    for (let i = 0; i < cin; i++) {
      const o = Math.floor((i * cout) / cin);
      mix[o * cin + i] = 1 / counts[o]!;
    }
  }
  return mix;
}

function convFilterWeight(node: ResolvedConv2d, filter: FilterName): Float32Array {
  const [kh, kw] = node.kernel;
  const taps = kh * kw;
  const groupIn = node.inChannels / node.groups;
  const groupOut = node.outChannels / node.groups;
  const data = new Float32Array(node.outChannels * groupIn * taps);
  const depthwise = node.groups === node.inChannels && node.groups > 1;
  // Depthwise convs (the spatial half) get the filter; every other conv is its channel mixing
  // within the group, times the filter when it has a spatial extent, times 1 at the centre when 1x1.
  const spatial = depthwise || taps > 1 ? makeFilter(filter, kh, kw) : Float32Array.of(1);
  const mix = channelMixing(groupOut, groupIn);
  for (let o = 0; o < node.outChannels; o++) {
    const og = o % groupOut;
    for (let i = 0; i < groupIn; i++) {
      const m = depthwise ? 1 : mix[og * groupIn + i]!;
      if (m === 0) continue;
      for (let t = 0; t < taps; t++) data[(o * groupIn + i) * taps + t] = m * spatial[t]!;
    }
  }
  return data;
}

/**
 * A transposed conv that spreads each input pixel evenly over the output pixels it reaches, its
 * channels mixed as {@link channelMixing} within the group: an even upsampling where the kernel
 * covers the stride.
 */
function convTransposeFilterWeight(node: ResolvedConvTranspose2d): Float32Array {
  const [kh, kw] = node.kernel;
  const taps = kh * kw;
  const groupIn = node.inChannels / node.groups;
  const groupOut = node.outChannels / node.groups;
  // About (kh / sy) * (kw / sx) taps land on each output pixel.
  const share = 1 / Math.max(1, (kh / node.stride[0]) * (kw / node.stride[1]));
  const mix = channelMixing(groupOut, groupIn);
  const data = new Float32Array(node.inChannels * groupOut * taps);
  for (let i = 0; i < node.inChannels; i++) {
    for (let o = 0; o < groupOut; o++) {
      const m = mix[o * groupIn + (i % groupIn)]!;
      for (let t = 0; t < taps; t++) data[(i * groupOut + o) * taps + t] = m * share;
    }
  }
  return data;
}

/**
 * Hand-made weights that make feature maps readable: depthwise convs apply `filter` (see
 * {@link makeFilter}) to every channel; pointwise and standard convs and Linear layers mix
 * channels with {@link channelMixing} (identity when the counts match; a standard k x k conv also
 * applies the filter); biases are 0; BatchNorm is the identity (weight 1, bias 0, mean 0, var 1).
 */
export function filterWeights(model: ResolvedModel, filter: FilterName | string): WeightMap {
  const name = parseFilterName(filter);
  const weights: WeightMap = {};
  const specs = new Map<string, TensorSpec>(parameterShapes(model).map((s) => [s.key, s]));
  const put = (key: string, data: Float32Array) => {
    const spec = specs.get(key);
    if (spec) weights[key] = { shape: [...spec.shape], data };
  };
  for (const { node } of model.leaves) {
    switch (node.op) {
      case 'conv2d':
        put(`${node.key}.weight`, convFilterWeight(node, name));
        put(`${node.key}.bias`, new Float32Array(node.outChannels));
        break;
      case 'linear':
        put(`${node.key}.weight`, channelMixing(node.outFeatures, node.inFeatures));
        put(`${node.key}.bias`, new Float32Array(node.outFeatures));
        break;
      case 'convtranspose2d':
        put(`${node.key}.weight`, convTransposeFilterWeight(node));
        put(`${node.key}.bias`, new Float32Array(node.outChannels));
        break;
      case 'batchnorm2d':
        put(`${node.key}.weight`, new Float32Array(node.numFeatures).fill(1));
        put(`${node.key}.bias`, new Float32Array(node.numFeatures));
        put(`${node.key}.running_mean`, new Float32Array(node.numFeatures));
        put(`${node.key}.running_var`, new Float32Array(node.numFeatures).fill(1));
        break;
      default:
        break;
    }
  }
  return weights;
}

// ---------------------------------------------------------------------------------------------
// Made weights, by description

/** Whether `weights` describes weights to make ({@link WeightSource}) rather than holding tensors. */
export function isWeightSource(weights: WeightMap | WeightSource): weights is WeightSource {
  const kind = (weights as { kind?: unknown }).kind;
  return (kind === 'seed' || kind === 'filters') && !('data' in (weights as object));
}

/** Weights as `source` describes them: {@link initWeights} or {@link filterWeights}. */
export function makeWeights(model: ResolvedModel, source: WeightSource): WeightMap {
  return source.kind === 'seed' ? initWeights(model, { seed: source.seed }) : filterWeights(model, source.filter);
}

/** Parses the CLI's `--init` value: "seed:42" or "filters:sobel". */
export function parseWeightSource(text: string): WeightSource {
  const [kind, value = ''] = text.split(':', 2) as [string, string | undefined];
  if (kind === 'seed') {
    const seed = Number(value);
    if (!/^\d+$/.test(value)) throw new Error(`--init seed:N needs a non-negative integer seed, got "${value}"`);
    if (!(seed < SEED_LIMIT)) throw new Error(`--init seed:N: the seed must be below 2^32 = ${SEED_LIMIT} (the generator keeps 32 bits), got ${value}`);
    return { kind: 'seed', seed };
  }
  if (kind === 'filters' || kind === 'filter') return { kind: 'filters', filter: parseFilterName(value) };
  throw new Error(`--init must be seed:N or filters:NAME (NAME one of ${FILTER_NAMES.join(', ')}), got "${text}"`);
}
