/**
 * Upsample, nearest or bilinear: one thread per output vec4, reading two rows and two columns
 * with the weights of a per-axis table (upsampleCoordinates.ts, the same one the CPU uses: rows
 * then columns, [index0, index1, weight0, weight1] per output coordinate, as f32). Nearest is
 * the table with weights 1 and 0, so one pipeline serves both modes.
 */
import { upsampleAxisTable } from '../upsampleCoordinates';
import type { EncodeContext, EncodedDispatch } from './encoding';
import { dispatch1d, groups4, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export function upsample2dProgram(n: number, h: number, w: number, c4: number, oh: number, ow: number, label: string): Program {
  const total = n * oh * ow * c4;
  return {
    label,
    shaderKey: 'upsample2d',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['H', h], ['W', w], ['C4', c4], ['OH', oh], ['OW', ow], ['total', total]],
    bindings: [{ name: 'x', access: 'read', element: 'vec4<f32>' }, { name: 'table', access: 'read', element: 'vec4<f32>' }, { name: 'y', access: 'write', element: 'vec4<f32>' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  let c4 = t % u.C4;
  let pix = t / u.C4;
  let ox = pix % u.OW;
  let oy = (pix / u.OW) % u.OH;
  let n = pix / (u.OW * u.OH);
  let r = table[oy];
  let c = table[u.OH + ox];
  let r0 = (n * u.H + i32(r.x)) * u.W;
  let r1 = (n * u.H + i32(r.y)) * u.W;
  let x0 = i32(c.x);
  let x1 = i32(c.y);
  let top = c.z * x[(r0 + x0) * u.C4 + c4] + c.w * x[(r0 + x1) * u.C4 + c4];
  let bottom = c.z * x[(r1 + x0) * u.C4 + c4] + c.w * x[(r1 + x1) * u.C4 + c4];
  y[t] = r.z * top + r.w * bottom;
}`,
  };
}

export function encodeUpsample2d(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'upsample') throw new Error(`internal: ${node.key} is not an Upsample`);
  const [n, c, h, w] = graph.values[step.reads[0]!]!.shape as [number, number, number, number];
  const [, , oh, ow] = graph.values[step.outputs[0]!]!.shape as [number, number, number, number];
  const table = new Float32Array((oh + ow) * 4);
  table.set(upsampleAxisTable(node, 0, h, oh), 0);
  table.set(upsampleAxisTable(node, 1, w, ow), oh * 4);
  const program = upsample2dProgram(n, h, w, groups4(c), oh, ow, ctx.label);
  return [{ program, buffers: [ctx.buffer(step.reads[0]!), { buffer: ctx.upload(table, `${ctx.label} coordinates`) }, ctx.buffer(step.outputs[0]!)] }];
}
