/**
 * Upsample, nearest or bilinear: one thread per output vec4, reading two rows and two columns
 * with the weights of a per-axis table (upsampleCoordinates.ts, the same one the CPU uses: rows
 * then columns, [index0, index1, weight0, weight1] per output coordinate, as f32). Nearest is
 * the table with weights 1 and 0, so one pipeline serves both modes.
 */
import { upsampleAxisTable } from '../upsampleCoordinates';
import { pixelMap, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';
import { outputPixelWgsl, pixelMapUniforms, type PixelMap } from './wgsl/common';

export function upsample2dProgram(map: PixelMap, label: string): Program {
  return perItemProgram({
    label,
    shaderKey: 'upsample2d',
    uniforms: pixelMapUniforms(map),
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'table', access: 'read', element: 'vec4<f32>' },
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    main: `
  ${outputPixelWgsl('C4')}
  let r = table[oy];
  let c = table[u.OH + ox];
  let r0 = (n * u.H + i32(r.x)) * u.W;
  let r1 = (n * u.H + i32(r.y)) * u.W;
  let x0 = i32(c.x);
  let x1 = i32(c.y);
  let top = c.z * x[(r0 + x0) * u.C4 + c4] + c.w * x[(r0 + x1) * u.C4 + c4];
  let bottom = c.z * x[(r1 + x0) * u.C4 + c4] + c.w * x[(r1 + x1) * u.C4 + c4];
  y[t] = r.z * top + r.w * bottom;`,
  });
}

export function encodeUpsample2d(ctx: EncodeContext): EncodedDispatch[] {
  const node = stepAttrs(ctx, 'upsample', 'an Upsample');
  const map = pixelMap(ctx);
  const table = new Float32Array((map.oh + map.ow) * 4);
  table.set(upsampleAxisTable(node, 0, map.h, map.oh), 0);
  table.set(upsampleAxisTable(node, 1, map.w, map.ow), map.oh * 4);
  const { step } = ctx;
  return [
    {
      program: upsample2dProgram(map, ctx.label),
      buffers: [ctx.buffer(step.reads[0]!), { buffer: ctx.upload(table, `${ctx.label} coordinates`) }, ctx.buffer(step.outputs[0]!)],
    },
  ];
}
