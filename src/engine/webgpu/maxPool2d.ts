/**
 * MaxPool2d: one thread per output vec4 (four channels of one pixel), the max over the dilated
 * window; the padding counts as -inf, so it never wins. Kernel, stride, padding and dilation are
 * uniforms: one pipeline serves every MaxPool2d.
 */
import type { ResolvedPool2d } from '../../shared/spec';
import type { EncodeContext, EncodedDispatch } from './encoding';
import { dispatch1d, groups4, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export interface Pool2dConfig {
  n: number; h: number; w: number; c4: number; oh: number; ow: number;
  kernel: [number, number]; stride: [number, number]; padding: [number, number];
}

/** The uniforms both pooling programs read. */
export function pool2dUniforms(cfg: Pool2dConfig): Array<[string, number]> {
  const total = cfg.n * cfg.oh * cfg.ow * cfg.c4;
  return [['H', cfg.h], ['W', cfg.w], ['C4', cfg.c4], ['OH', cfg.oh], ['OW', cfg.ow], ['total', total],
    ['KH', cfg.kernel[0]], ['KW', cfg.kernel[1]], ['SY', cfg.stride[0]], ['SX', cfg.stride[1]], ['PY', cfg.padding[0]], ['PX', cfg.padding[1]]];
}

/** WGSL: the output vec4 `t` as its image `n`, pixel `oy`, `ox` and channel group `c4`. */
export const POOL_OUTPUT_INDEX = `
  let c4 = t % u.C4;
  let pix = t / u.C4;
  let ox = pix % u.OW;
  let oy = (pix / u.OW) % u.OH;
  let n = pix / (u.OW * u.OH);`;

export function maxPool2dProgram(cfg: Pool2dConfig & { dilation: [number, number] }, label: string): Program {
  const total = cfg.n * cfg.oh * cfg.ow * cfg.c4;
  return {
    label,
    shaderKey: 'maxpool2d',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    // -inf as f32 bits (0xff800000): WGSL has no -inf literal and refuses one it can fold.
    uniforms: [...pool2dUniforms(cfg), ['DY', cfg.dilation[0]], ['DX', cfg.dilation[1]], ['negInf', -0x800000]],
    bindings: [{ name: 'x', access: 'read', element: 'vec4<f32>' }, { name: 'y', access: 'write', element: 'vec4<f32>' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  ${POOL_OUTPUT_INDEX}
  var m = vec4<f32>(bitcast<f32>(u.negInf));
  for (var ky = 0; ky < u.KH; ky++) {
    let iy = oy * u.SY - u.PY + ky * u.DY;
    if (iy < 0 || iy >= u.H) { continue; }
    for (var kx = 0; kx < u.KW; kx++) {
      let ix = ox * u.SX - u.PX + kx * u.DX;
      if (ix < 0 || ix >= u.W) { continue; }
      m = max(m, x[((n * u.H + iy) * u.W + ix) * u.C4 + c4]);
    }
  }
  y[t] = m;
}`,
  };
}

/** A pooling step's geometry, from its input and output values and the node's window. */
export function pool2dConfig(ctx: EncodeContext, node: ResolvedPool2d): Pool2dConfig {
  const { step, graph } = ctx;
  const [n, c, h, w] = graph.values[step.reads[0]!]!.shape as [number, number, number, number];
  const [, , oh, ow] = graph.values[step.outputs[0]!]!.shape as [number, number, number, number];
  return { n, h, w, c4: groups4(c), oh, ow, kernel: node.kernel, stride: node.stride, padding: node.padding };
}

export function encodeMaxPool2d(ctx: EncodeContext): EncodedDispatch[] {
  const node = ctx.step.node.attrs;
  if (node.op !== 'maxpool2d') throw new Error(`internal: ${node.key} is not a MaxPool2d`);
  const program = maxPool2dProgram({ ...pool2dConfig(ctx, node), dilation: node.dilation }, ctx.label);
  return [{ program, buffers: [ctx.buffer(ctx.step.reads[0]!), ctx.buffer(ctx.step.outputs[0]!)] }];
}
