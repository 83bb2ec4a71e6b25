/**
 * Moves a tensor between the engine's two layouts, element by element through its logical
 * (PyTorch, row-major NCHW) index: 'nhwc' (4-D, channels padded to vec4s) and 'flat' ([rows, cols]
 * with cols padded to vec4s, rows = every dimension but the last). Flatten of a feature map and a
 * Linear on a 4-D tensor's last dimension go through it.
 */
import { inOutBuffers, layoutOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';

/** NHWC with padded channels, or [rows, cols] with padded columns. */
export type Layout = { kind: 'nhwc'; n: number; c: number; h: number; w: number } | { kind: 'flat'; rows: number; cols: number };

const pad4 = (v: number) => Math.ceil(v / 4) * 4;

/** Padded scalar count of a layout. */
export function paddedElements(layout: Layout): number {
  return layout.kind === 'nhwc' ? layout.n * layout.h * layout.w * pad4(layout.c) : layout.rows * pad4(layout.cols);
}

function fields(prefix: string, layout: Layout): Array<[string, number]> {
  return layout.kind === 'nhwc'
    ? [
        [`${prefix}C`, layout.c],
        [`${prefix}H`, layout.h],
        [`${prefix}W`, layout.w],
        [`${prefix}CP`, pad4(layout.c)],
      ]
    : [
        [`${prefix}C`, layout.cols],
        [`${prefix}H`, 1],
        [`${prefix}W`, 1],
        [`${prefix}CP`, pad4(layout.cols)],
      ];
}

export function repackProgram(from: Layout, to: Layout, label: string): Program {
  // A flat [rows, cols] is handled as nhwc with c = cols, h = w = 1 but with NCHW = row-major order;
  // the two differ only in how a logical index splits, chosen per side in the text.
  return perItemProgram({
    label,
    shaderKey: `repack-${from.kind}-${to.kind}`,
    uniforms: [['total', paddedElements(to)], ...fields('s', from), ...fields('d', to)],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  ${logicalIndexOf(to)}
  ${readAtLogical(from, 'y[t]')}`,
  });
}

/**
 * A tensor in logical (PyTorch, row-major) order, unpadded, written into `to`'s layout: the
 * input of a run, uploaded as the caller holds it.
 */
export function fromLogicalProgram(to: Layout): Program {
  return perItemProgram({
    label: 'input layout',
    shaderKey: `from-logical-${to.kind}`,
    uniforms: [['total', paddedElements(to)], ...fields('d', to)],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  ${logicalIndexOf(to)}
  y[t] = x[logical];`,
  });
}

/**
 * A tensor in `from`'s layout written in logical (row-major) order, unpadded, at float `offset`
 * of the output: what a run reads back (outputs and intermediates side by side in one buffer).
 */
export function toLogicalProgram(from: Layout, offset: number): Program {
  const count = from.kind === 'nhwc' ? from.n * from.c * from.h * from.w : from.rows * from.cols;
  return perItemProgram({
    label: 'output layout',
    shaderKey: `to-logical-${from.kind}`,
    uniforms: [['total', count], ['offset', offset], ...fields('s', from)],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  let logical = t;
  ${readAtLogical(from, 'y[u.offset + t]')}`,
  });
}

/** WGSL: `logical`, the row-major index of padded element `t` of layout `to` (fields `d*`); a padding element is set to 0 and returns. */
function logicalIndexOf(to: Layout): string {
  return to.kind === 'nhwc'
    ? `let c = t % u.dCP; let pix = t / u.dCP; let xw = pix % u.dW; let yh = (pix / u.dW) % u.dH; let n = pix / (u.dW * u.dH);
  if (c >= u.dC) { y[t] = 0.0; return; }
  let logical = ((n * u.dC + c) * u.dH + yh) * u.dW + xw;`
    : `let c = t % u.dCP; let row = t / u.dCP;
  if (c >= u.dC) { y[t] = 0.0; return; }
  let logical = row * u.dC + c;`;
}

/** WGSL: `target = ` the element at row-major index `logical` of `x`, held in layout `from` (fields `s*`). */
function readAtLogical(from: Layout, target: string): string {
  return from.kind === 'nhwc'
    ? `let sx = logical % u.sW; let sy = (logical / u.sW) % u.sH; let sc = (logical / (u.sW * u.sH)) % u.sC; let sn = logical / (u.sW * u.sH * u.sC);
  ${target} = x[((sn * u.sH + sy) * u.sW + sx) * u.sCP + sc];`
    : `${target} = x[(logical / u.sC) * u.sCP + logical % u.sC];`;
}

/** A Flatten or Dropout whose layouts differ (a Flatten of a feature map): the values move to the output's layout. */
export function encodeReshape(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const from = layoutOf(graph.values[step.reads[0]!]!.shape);
  const to = layoutOf(graph.values[step.outputs[0]!]!.shape);
  return [{ program: repackProgram(from, to, ctx.label), buffers: inOutBuffers(ctx) }];
}
