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
  const toLogical =
    to.kind === 'nhwc'
      ? `let c = t % u.dCP; let pix = t / u.dCP; let xw = pix % u.dW; let yh = (pix / u.dW) % u.dH; let n = pix / (u.dW * u.dH);
  if (c >= u.dC) { y[t] = 0.0; return; }
  let logical = ((n * u.dC + c) * u.dH + yh) * u.dW + xw;`
      : `let c = t % u.dCP; let row = t / u.dCP;
  if (c >= u.dC) { y[t] = 0.0; return; }
  let logical = row * u.dC + c;`;
  const fromLogical =
    from.kind === 'nhwc'
      ? `let sx = logical % u.sW; let sy = (logical / u.sW) % u.sH; let sc = (logical / (u.sW * u.sH)) % u.sC; let sn = logical / (u.sW * u.sH * u.sC);
  y[t] = x[((sn * u.sH + sy) * u.sW + sx) * u.sCP + sc];`
      : `y[t] = x[(logical / u.sC) * u.sCP + logical % u.sC];`;
  return perItemProgram({
    label,
    shaderKey: `repack-${from.kind}-${to.kind}`,
    uniforms: [['total', paddedElements(to)], ...fields('s', from), ...fields('d', to)],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  ${toLogical}
  ${fromLogical}`,
  });
}

/** A Flatten or Dropout whose layouts differ (a Flatten of a feature map): the values move to the output's layout. */
export function encodeReshape(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const from = layoutOf(graph.values[step.reads[0]!]!.shape);
  const to = layoutOf(graph.values[step.outputs[0]!]!.shape);
  return [{ program: repackProgram(from, to, ctx.label), buffers: inOutBuffers(ctx) }];
}
