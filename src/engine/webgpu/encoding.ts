/**
 * What an op's file gets to encode a plan step for the GPU, and the helpers they share: the
 * layout of every value, the fused epilogue's buffers, the strides of a value for the programs
 * that address tensors by their logical index. Each op's file (conv2d.ts, linear.ts,
 * elementwise.ts, ...) picks its program variant, packs its weights and fills its uniforms;
 * webgpuModel.ts only owns the buffers, submits and reads back.
 */
import type { Graph, ValueId } from '../graph/graph';
import type { PlanStep } from '../graph/planner';
import { batchNormAffine } from '../batchNormAffine';
import type { ResolvedBatchNorm } from '../../shared/spec';
import type { Tensor } from '../../shared/tensor';
import { batchNormStatisticsProgram, shiftOffsetBytes } from './batchNormStatistics';
import { groups4, type Program } from './program';
import { paddedElements, type Layout } from './repack';
import type { Epilogue } from './wgsl/common';
import { activationKind, type ActivationKind } from '../activationKind';

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

/** One dispatch: a program and its buffers, in the order of its bindings (outputs included). */
export interface EncodedDispatch {
  program: Program;
  buffers: GPUBufferBinding[];
}

export interface EncodeContext {
  device: GPUDevice;
  graph: Graph;
  step: PlanStep;
  weights: Record<string, Tensor>;
  /** What the step's dispatches are called in timings: its leaf keys joined with "+". */
  label: string;
  gemm: Exclude<GemmStrategy, 'auto'>;
  depthwise: Exclude<DepthwiseStrategy, 'auto'>;
  /** The buffer of a value (an input, the addend or an output of the step). */
  buffer(value: ValueId): GPUBufferBinding;
  /** A weight buffer, uploaded now and resident for the model's life. */
  upload(data: Float32Array, label: string): GPUBuffer;
  /** A buffer of the model's own for the step's temporaries (statistics, a layout change). */
  scratch(bytes: number, label: string): GPUBuffer;
}

/**
 * A value's layout on the GPU, from its shape alone: 4-D tensors are NHWC with channels padded to
 * vec4s, others [rows, cols] (rows: every dimension but the last) with columns padded to vec4s.
 */
export function layoutOf(shape: readonly number[]): Layout {
  if (shape.length === 4) return { kind: 'nhwc', n: shape[0]!, c: shape[1]!, h: shape[2]!, w: shape[3]! };
  const cols = shape[shape.length - 1] ?? 1;
  return { kind: 'flat', rows: shape.slice(0, -1).reduce((a, b) => a * b, 1), cols };
}

/** Two layouts whose padded bytes are the same (a Flatten of [N, C, 1, 1] to [N, C], a Dropout). */
export function sameBytes(a: Layout, b: Layout): boolean {
  const rowsCols = (l: Layout): [number, number] | undefined => (l.kind === 'flat' ? [l.rows, l.cols] : l.h === 1 && l.w === 1 ? [l.n, l.c] : undefined);
  if (a.kind === 'nhwc' && b.kind === 'nhwc') return a.n === b.n && a.c === b.c && a.h === b.h && a.w === b.w;
  const x = rowsCols(a);
  const y = rowsCols(b);
  return x !== undefined && y !== undefined && x[0] === y[0] && x[1] === y[1];
}

/** Bytes a value of this shape takes on the GPU. */
export const valueBytes = (shape: readonly number[]) => paddedElements(layoutOf(shape)) * 4;

/** A shape as 4-D, leading 1s added (how the strided programs see every value). */
export function as4d(shape: readonly number[]): [number, number, number, number] {
  const padded = [...new Array<number>(Math.max(0, 4 - shape.length)).fill(1), ...shape];
  return padded as [number, number, number, number];
}

/**
 * The f32 strides of a value's logical 4-D index (see {@link as4d}) in its layout: NHWC
 * [H*W*Cp, 1, W*Cp, Cp], flat [d1*d2*Cp, d2*Cp, Cp, 1] (Cp: the padded channels or columns).
 */
export function stridesOf(shape: readonly number[]): [number, number, number, number] {
  const layout = layoutOf(shape);
  const [, d1, d2, d3] = as4d(shape);
  if (layout.kind === 'nhwc') {
    const cp = groups4(layout.c) * 4;
    return [layout.h * layout.w * cp, 1, layout.w * cp, cp];
  }
  const cp = groups4(d3) * 4;
  return [d1 * d2 * cp, d2 * cp, cp, 1];
}

/**
 * WGSL that decodes `t`, a padded f32 index of the output, into its logical 4-D index `i` (an
 * `array<i32, 4>`), returning early with a zero written for a padding element. Needs uniforms
 * oD0..oD3 (the output's 4-D logical shape) and oCP (its padded channels or columns).
 */
export function decodeOutputWgsl(shape: readonly number[]): string {
  return layoutOf(shape).kind === 'nhwc'
    ? `let inner = t % u.oCP; if (inner >= u.oD1) { y[t] = 0.0; return; }
  let pix = t / u.oCP;
  var i = array<i32, 4>(pix / (u.oD2 * u.oD3), inner, (pix / u.oD3) % u.oD2, pix % u.oD3);`
    : `let inner = t % u.oCP; if (inner >= u.oD3) { y[t] = 0.0; return; }
  let row = t / u.oCP;
  var i = array<i32, 4>(row / (u.oD1 * u.oD2), (row / u.oD2) % u.oD1, row % u.oD2, inner);`;
}

/** The uniforms {@link decodeOutputWgsl} reads. */
export function outputUniforms(shape: readonly number[]): Array<[string, number]> {
  const d = as4d(shape);
  const layout = layoutOf(shape);
  const cp = groups4(layout.kind === 'nhwc' ? layout.c : layout.cols) * 4;
  return [['oD0', d[0]], ['oD1', d[1]], ['oD2', d[2]], ['oD3', d[3]], ['oCP', cp], ['total', paddedElements(layout)]];
}

/** The step's activation as the epilogue names it. */
export function stepActivation(step: PlanStep): ActivationKind {
  return step.activation ? activationKind(step.activation.fn, step.activation.approximate) : 'none';
}

const pad4Array = (values: ArrayLike<number>, length: number) => {
  const out = new Float32Array(Math.ceil(length / 4) * 4);
  for (let i = 0; i < length; i++) out[i] = values[i]!;
  return out;
};

export interface EpilogueParts {
  /** y = scale * x + shift per output channel before the activation (bias, BatchNorm). */
  scale?: ArrayLike<number>;
  shift?: ArrayLike<number>;
  /** A conv or Linear always gets a scale and a shift (one shader variant fewer). */
  alwaysAffine?: boolean;
  /** A BatchNorm without running statistics: scale and shift come from this input's own statistics. */
  batchStatistics?: { key: string; eps: number; affine: boolean; input: ValueId };
}

/**
 * The fused epilogue of a step: its scale and shift (padded channels get 0 and 0, so they stay
 * exactly zero through every activation), its activation, and the addend when the step ends in
 * an Add. Returns the epilogue, its buffers in binding order, and the dispatches that must run
 * first (batch statistics).
 */
export function encodeEpilogue(ctx: EncodeContext, channels: number, parts: EpilogueParts): { epilogue: Epilogue; buffers: GPUBufferBinding[]; before: EncodedDispatch[] } {
  const { step } = ctx;
  const buffers: GPUBufferBinding[] = [];
  const before: EncodedDispatch[] = [];
  const stats = parts.batchStatistics;
  const affine = parts.alwaysAffine === true || parts.scale !== undefined || parts.shift !== undefined || stats !== undefined;
  if (stats) {
    const c4 = groups4(channels);
    const params = new Float32Array(2 * c4 * 4);
    for (let c = 0; c < channels; c++) {
      params[c] = stats.affine ? ctx.weights[`${stats.key}.weight`]!.data[c]! : 1;
      params[c4 * 4 + c] = stats.affine ? ctx.weights[`${stats.key}.bias`]!.data[c]! : 0;
    }
    const shiftAt = shiftOffsetBytes(c4);
    const buffer = ctx.scratch(shiftAt + c4 * 16, `${ctx.label} statistics`);
    const layout = layoutOf(ctx.graph.values[stats.input]!.shape);
    const pixels = paddedElements(layout) / (c4 * 4);
    before.push({
      program: batchNormStatisticsProgram(pixels, c4, stats.eps, ctx.label),
      buffers: [ctx.buffer(stats.input), { buffer: ctx.upload(params, `${ctx.label} gamma/beta`) }, { buffer }],
    });
    buffers.push({ buffer, offset: 0, size: c4 * 16 }, { buffer, offset: shiftAt, size: c4 * 16 });
  } else if (affine) {
    const scale = parts.scale ?? new Float64Array(channels).fill(1);
    const shift = parts.shift ?? new Float64Array(channels);
    buffers.push({ buffer: ctx.upload(pad4Array(scale, channels), `${ctx.label} scale`) }, { buffer: ctx.upload(pad4Array(shift, channels), `${ctx.label} shift`) });
  }
  const residual = step.addend !== undefined;
  if (residual) buffers.push(ctx.buffer(step.addend!));
  return { epilogue: { affine, activation: stepActivation(step), negativeSlope: step.activation?.negativeSlope, residual }, buffers, before };
}

/** A BatchNorm's running statistics as y = scale * x + shift, folded over an earlier scale and shift (a conv's bias). */
export function foldBatchNorm(ctx: EncodeContext, bn: ResolvedBatchNorm, channels: number, bias?: ArrayLike<number>): { scale: Float64Array; shift: Float64Array } {
  const data = (name: string) => ctx.weights[`${bn.key}.${name}`]!.data;
  const { scale, shift } = batchNormAffine(bn, data('running_mean'), data('running_var'), bn.affine ? data('weight') : undefined, bn.affine ? data('bias') : undefined);
  const folded = new Float64Array(channels);
  for (let c = 0; c < channels; c++) folded[c] = (bias ? bias[c]! : 0) * scale[c]! + shift[c]!;
  return { scale, shift: folded };
}
