/**
 * WGSL snippets shared by the programs: activations (with an erf accurate to about 1e-7 relative),
 * padding-mode index mapping, the fused epilogue and the indexing of one-thread-per-output-vec4 programs.
 */
import type { PaddingMode } from '../../../shared/spec';
import { ACTIVATION_KINDS, type ActivationKind } from '../../activationKind';
import type { Binding } from '../program';

/**
 * erfc(x) from the Chebyshev fit in Numerical Recipes (erfcc): relative error below 1.2e-7 for
 * every x, which keeps GELU's relative error small even far into the negative tail, where
 * 1 + erf(x) is tiny and an absolute-error approximation (Abramowitz-Stegun 7.1.26) is not enough.
 */
const ERFC = /* wgsl */ `
fn erfc_v(x: vec4<f32>) -> vec4<f32> {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(-z * z + p);
  return select(2.0 - r, r, x >= vec4<f32>(0.0));
}
`;

/** The body of `act` for one activation: an expression of `v`. */
function activationExpression(kind: ActivationKind): string {
  switch (kind) {
    case 'none':
      return 'v';
    case 'relu':
      return 'max(v, vec4<f32>(0.0))';
    case 'relu6':
      return 'clamp(v, vec4<f32>(0.0), vec4<f32>(6.0))';
    // exp(-v) overflows to inf for v < -88: v / inf is -0, PyTorch's answer too.
    case 'silu':
      return 'v / (1.0 + exp(-v))';
    case 'hardswish':
      return 'v * clamp(v + 3.0, vec4<f32>(0.0), vec4<f32>(6.0)) / 6.0';
    case 'gelu':
      return '0.5 * v * erfc_v(-v * 0.70710678118654752)';
    // tanh's argument is clamped: tanh(15) is 1 in f32, and some drivers return NaN for huge arguments.
    case 'gelu_tanh':
      return '0.5 * v * (1.0 + tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), vec4<f32>(-15.0), vec4<f32>(15.0))))';
    case 'hardsigmoid':
      return 'clamp(v + 3.0, vec4<f32>(0.0), vec4<f32>(6.0)) / 6.0';
    // exp(-v) overflows to inf for v < -88: 1 / inf is 0, PyTorch's answer too.
    case 'sigmoid':
      return '1.0 / (1.0 + exp(-v))';
    case 'tanh':
      return 'tanh(clamp(v, vec4<f32>(-15.0), vec4<f32>(15.0)))';
    // The slope travels as the bits of an f32 in the i32 uniform slope.
    case 'leaky_relu':
      return 'select(v * bitcast<f32>(u.slope), v, v > vec4<f32>(0.0))';
  }
}

/**
 * `fn act(v: vec4<f32>) -> vec4<f32>`, the activation chosen by the uniform `u.act` (see
 * {@link epilogueUniforms}): one shader serves every activation, so a model with five different
 * activations compiles each conv program once, not five times. The branch is uniform across the
 * dispatch, so it costs one compare per output vec4.
 */
export function activationWgsl(): string {
  const cases = ACTIVATION_KINDS.slice(1)
    .map((kind, i) => `  if (u.act == ${i + 1}) { return ${activationExpression(kind)}; }`)
    .join('\n');
  return `${ERFC}\nfn act(v: vec4<f32>) -> vec4<f32> {\n${cases}\n  return v;\n}`;
}

/**
 * `fn pc(i: i32, n: i32) -> i32`: maps a padded coordinate to an input coordinate, or -1 for a
 * zero. Spec validation guarantees reflect pads < n and circular pads <= n, so one fold suffices.
 */
export function padCoordWgsl(mode: PaddingMode): string {
  switch (mode) {
    case 'zeros':
      return 'fn pc(i: i32, n: i32) -> i32 { return select(i, -1, i < 0 || i >= n); }';
    case 'reflect':
      return 'fn pc(i: i32, n: i32) -> i32 { let a = abs(i); return select(a, 2 * n - 2 - a, a >= n); }';
    case 'replicate':
      return 'fn pc(i: i32, n: i32) -> i32 { return clamp(i, 0, n - 1); }';
    case 'circular':
      return 'fn pc(i: i32, n: i32) -> i32 { return (i + n) % n; }';
  }
}

/** What a conv/linear/elementwise program applies to each output vec4 before writing it. */
export interface Epilogue {
  /** Per output channel, f32, padded to a multiple of 4: `scale * acc + shift` (bias and folded BatchNorm). */
  affine: boolean;
  activation: ActivationKind;
  /** LeakyReLU's slope for x < 0 (default 0.01); a uniform, not part of the shader text. */
  negativeSlope?: number;
  /** Add a tensor of the output's shape after the activation (a Residual's skip connection). */
  residual: boolean;
}

/** The epilogue's part of a shader key: the activation is a uniform, not part of the text. */
export const epilogueKey = (e: Epilogue) => `${e.affine ? 'aff' : 'noaff'}-${e.residual ? 'res' : 'nores'}`;

/**
 * The bindings of a program that ends in the epilogue: its `inputs`, then the epilogue's own
 * (`scale` and `shift`, `residual`, as it asks), then the output `y` (vec4s).
 */
export function epilogueProgramBindings(inputs: Binding[], e: Epilogue): Binding[] {
  const list: Binding[] = [...inputs];
  if (e.affine) list.push({ name: 'scale', access: 'read', element: 'vec4<f32>' }, { name: 'shift', access: 'read', element: 'vec4<f32>' });
  if (e.residual) list.push({ name: 'residual', access: 'read', element: 'vec4<f32>' });
  list.push({ name: 'y', access: 'write', element: 'vec4<f32>' });
  return list;
}

const slopeBits = new Int32Array(1);
const slopeView = new Float32Array(slopeBits.buffer);

/** The uniforms {@link epilogueWgsl} reads: `act`, the activation's code, and `slope`, LeakyReLU's slope as f32 bits. */
export function epilogueUniforms(e: Epilogue): Array<[string, number]> {
  const code = ACTIVATION_KINDS.indexOf(e.activation);
  if (code < 0) throw new Error(`internal: no WGSL for activation ${e.activation}`);
  slopeView[0] = e.negativeSlope ?? 0.01;
  return [
    ['act', code],
    ['slope', slopeBits[0]!],
  ];
}

/**
 * `fn epilogue(v: vec4<f32>, c4: i32, index: i32) -> vec4<f32>` where `c4` is the output channel
 * group and `index` the output vec4's index (for the residual). Needs bindings `scale`, `shift`,
 * `residual` as the epilogue asks, and the uniforms of {@link epilogueUniforms}.
 */
export function epilogueWgsl(e: Epilogue): string {
  return `${activationWgsl()}
fn epilogue(v: vec4<f32>, c4: i32, index: i32) -> vec4<f32> {
  var r = ${e.affine ? 'fma(v, scale[c4], shift[c4])' : 'v'};
  r = act(r);
  ${e.residual ? 'r = r + residual[index];' : ''}
  return r;
}`;
}

/**
 * WGSL: item `t` of a one-thread-per-output-vec4 program over an NHWC feature map as its image
 * `n`, pixel `oy`, `ox` and channel group `c4`. Reads uniforms OW, OH and `channelGroups` (the
 * output's vec4s per pixel).
 */
export function outputPixelWgsl(channelGroups: 'C4' | 'N4'): string {
  return `let c4 = t % u.${channelGroups};
  let pix = t / u.${channelGroups};
  let ox = pix % u.OW;
  let oy = (pix / u.OW) % u.OH;
  let n = pix / (u.OW * u.OH);`;
}

/** A conv's window over its input: kernel, stride, dilation, and the padding before the first row and column. */
export interface ConvWindow {
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  padTop: number;
  padLeft: number;
  paddingMode: PaddingMode;
}

/** An NHWC input map of `c4` channel groups and the output map of the same channel groups that a program reads it into. */
export interface PixelMap {
  n: number;
  h: number;
  w: number;
  c4: number;
  oh: number;
  ow: number;
}

/**
 * The uniforms of a program from a {@link PixelMap}'s input to its output, one item per output
 * vec4: H, W, C4, OH, OW and total, what {@link outputPixelWgsl}('C4') and the input's indexing read.
 */
export function pixelMapUniforms(map: PixelMap): Array<[string, number]> {
  return [
    ['H', map.h],
    ['W', map.w],
    ['C4', map.c4],
    ['OH', map.oh],
    ['OW', map.ow],
    ['total', map.n * map.oh * map.ow * map.c4],
  ];
}

/**
 * The `main` of a `perItemProgram` (program.ts) that computes each output vec4 (four channels of one
 * NHWC pixel) lane by lane with its own `fn lane(n: i32, oy: i32, ox: i32, oc: i32) -> f32`, then
 * applies the epilogue. Reads uniforms total, N4 (output channel groups), OW and OH.
 */
export const LANE_MAIN_WGSL = `${outputPixelWgsl('N4')}
  let v = vec4<f32>(lane(n, oy, ox, c4 * 4), lane(n, oy, ox, c4 * 4 + 1), lane(n, oy, ox, c4 * 4 + 2), lane(n, oy, ox, c4 * 4 + 3));
  y[t] = epilogue(v, c4, t);`;
