/**
 * AvgPool2d: one thread per output vec4, the sum over the window clipped to the input, divided
 * as PyTorch divides: divisor_override, else the window clipped to the padded input
 * (count_include_pad) or to the input itself. One pipeline serves every AvgPool2d.
 */
import type { EncodeContext, EncodedDispatch } from './encoding';
import { POOL_OUTPUT_INDEX, pool2dConfig, pool2dUniforms, type Pool2dConfig } from './maxPool2d';
import { dispatch1d, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export function avgPool2dProgram(cfg: Pool2dConfig & { countIncludePad: boolean; divisorOverride?: number }, label: string): Program {
  const total = cfg.n * cfg.oh * cfg.ow * cfg.c4;
  return {
    label,
    shaderKey: 'avgpool2d',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    // divisor 0: none given (PyTorch refuses 0 itself).
    uniforms: [...pool2dUniforms(cfg), ['includePad', cfg.countIncludePad ? 1 : 0], ['divisor', cfg.divisorOverride ?? 0]],
    bindings: [{ name: 'x', access: 'read', element: 'vec4<f32>' }, { name: 'y', access: 'write', element: 'vec4<f32>' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  ${POOL_OUTPUT_INDEX}
  var y0 = oy * u.SY - u.PY;
  var x0 = ox * u.SX - u.PX;
  var y1 = min(y0 + u.KH, u.H + u.PY);
  var x1 = min(x0 + u.KW, u.W + u.PX);
  let padded = (y1 - y0) * (x1 - x0);
  y0 = max(y0, 0);
  x0 = max(x0, 0);
  y1 = min(y1, u.H);
  x1 = min(x1, u.W);
  if (y0 >= y1 || x0 >= x1) { y[t] = vec4<f32>(0.0); return; }
  var s = vec4<f32>(0.0);
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { s += x[((n * u.H + iy) * u.W + ix) * u.C4 + c4]; }
  }
  var divisor = select((y1 - y0) * (x1 - x0), padded, u.includePad == 1);
  if (u.divisor != 0) { divisor = u.divisor; }
  y[t] = s / f32(divisor);
}`,
  };
}

export function encodeAvgPool2d(ctx: EncodeContext): EncodedDispatch[] {
  const node = ctx.step.node.attrs;
  if (node.op !== 'avgpool2d') throw new Error(`internal: ${node.key} is not an AvgPool2d`);
  const program = avgPool2dProgram({ ...pool2dConfig(ctx, node), countIncludePad: node.countIncludePad, divisorOverride: node.divisorOverride }, ctx.label);
  return [{ program, buffers: [ctx.buffer(ctx.step.reads[0]!), ctx.buffer(ctx.step.outputs[0]!)] }];
}
