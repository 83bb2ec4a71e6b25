/** AdaptiveAvgPool2d with PyTorch's bins: rows floor(i*H/OH) .. ceil((i+1)*H/OH), likewise columns. */
import type { EncodeContext, EncodedDispatch } from './encoding';
import { dispatch1d, groups4, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export function adaptiveAvgPool2dProgram(n: number, h: number, w: number, c4: number, oh: number, ow: number, label: string): Program {
  const total = n * oh * ow * c4;
  return {
    label,
    shaderKey: 'adaptiveavgpool2d',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['H', h], ['W', w], ['C4', c4], ['OH', oh], ['OW', ow], ['total', total]],
    bindings: [{ name: 'x', access: 'read', element: 'vec4<f32>' }, { name: 'y', access: 'write', element: 'vec4<f32>' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  let c4 = t % u.C4;
  let pix = t / u.C4;
  let ox = pix % u.OW;
  let oy = (pix / u.OW) % u.OH;
  let n = pix / (u.OW * u.OH);
  let y0 = (oy * u.H) / u.OH;
  let y1 = ((oy + 1) * u.H + u.OH - 1) / u.OH;
  let x0 = (ox * u.W) / u.OW;
  let x1 = ((ox + 1) * u.W + u.OW - 1) / u.OW;
  var s = vec4<f32>(0.0);
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { s += x[((n * u.H + iy) * u.W + ix) * u.C4 + c4]; }
  }
  y[t] = s / f32((y1 - y0) * (x1 - x0));
}`,
  };
}

export function encodeAdaptiveAvgPool2d(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'adaptiveavgpool2d') throw new Error(`internal: ${node.key} is not a pool`);
  const [n, c, h, w] = graph.values[step.reads[0]!]!.shape as [number, number, number, number];
  const program = adaptiveAvgPool2dProgram(n, h, w, groups4(c), node.outputSize[0], node.outputSize[1], ctx.label);
  return [{ program, buffers: [ctx.buffer(step.reads[0]!), ctx.buffer(step.outputs[0]!)] }];
}
