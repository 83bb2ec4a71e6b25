/**
 * ConvTranspose2d as a gather: one thread per output vec4, each lane summing, for every tap
 * whose source row (oy + padding - ky * dilation) / stride divides exactly and lands inside the
 * input, its group's input channels times PyTorch's [Cin, Cout / groups, kh, kw] weights. Bias,
 * activation and a fused Add are the shared epilogue. Geometry travels as uniforms: one pipeline
 * per epilogue variant.
 */
import { encodeEpilogue, type EncodeContext, type EncodedDispatch } from './encoding';
import { dispatch1d, groups4, type Program } from './program';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, laneMainWgsl, type Epilogue } from './wgsl/common';

const WORKGROUP = 64;

export interface ConvTransposeConfig {
  n: number; h: number; w: number; ci4: number; oh: number; ow: number;
  outChannels: number; n4: number; cinPerGroup: number; coutPerGroup: number;
  kernel: [number, number]; stride: [number, number]; padding: [number, number]; dilation: [number, number];
  epilogue: Epilogue;
}

export function convTranspose2dProgram(cfg: ConvTransposeConfig, label: string): Program {
  const total = cfg.n * cfg.oh * cfg.ow * cfg.n4;
  const body = `${epilogueWgsl(cfg.epilogue)}
fn lane(n: i32, oy: i32, ox: i32, oc: i32) -> f32 {
  if (oc >= u.COUT) { return 0.0; }
  let g = oc / u.coutPerGroup;
  let inGroup = oc % u.coutPerGroup;
  var s = 0.0;
  for (var ky = 0; ky < u.KH; ky++) {
    let ty = oy + u.PY - ky * u.DY;
    if (ty < 0 || ty % u.SY != 0) { continue; }
    let iy = ty / u.SY;
    if (iy >= u.H) { continue; }
    for (var kx = 0; kx < u.KW; kx++) {
      let tx = ox + u.PX - kx * u.DX;
      if (tx < 0 || tx % u.SX != 0) { continue; }
      let ix = tx / u.SX;
      if (ix >= u.W) { continue; }
      let base = ((n * u.H + iy) * u.W + ix) * u.CI4 * 4 + g * u.cinPerGroup;
      for (var i = 0; i < u.cinPerGroup; i++) {
        let ic = g * u.cinPerGroup + i;
        s = fma(x[base + i], wt[((ic * u.coutPerGroup + inGroup) * u.KH + ky) * u.KW + kx], s);
      }
    }
  }
  return s;
}
${laneMainWgsl(WORKGROUP)}`;
  return {
    label,
    shaderKey: `convtranspose2d-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['H', cfg.h], ['W', cfg.w], ['CI4', cfg.ci4], ['OH', cfg.oh], ['OW', cfg.ow],
      ['COUT', cfg.outChannels], ['N4', cfg.n4], ['cinPerGroup', cfg.cinPerGroup], ['coutPerGroup', cfg.coutPerGroup], ['total', total],
      ['KH', cfg.kernel[0]], ['KW', cfg.kernel[1]], ['SY', cfg.stride[0]], ['SX', cfg.stride[1]], ['PY', cfg.padding[0]], ['PX', cfg.padding[1]],
      ['DY', cfg.dilation[0]], ['DX', cfg.dilation[1]], ...epilogueUniforms(cfg.epilogue)],
    bindings: epilogueProgramBindings([
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'wt', access: 'read', element: 'f32' },
    ], cfg.epilogue),
    body,
  };
}

export function encodeConvTranspose2d(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph, weights, label } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'convtranspose2d') throw new Error(`internal: ${node.key} is not a transposed conv`);
  const [n, cin, h, w] = graph.values[step.reads[0]!]!.shape as [number, number, number, number];
  const [, cout, oh, ow] = graph.values[step.outputs[0]!]!.shape as [number, number, number, number];
  const bias = node.bias ? weights[`${node.key}.bias`]!.data : undefined;
  const { epilogue, buffers, before } = encodeEpilogue(ctx, cout, { shift: bias, alwaysAffine: true });
  const program = convTranspose2dProgram({
    n, h, w, ci4: groups4(cin), oh, ow, outChannels: cout, n4: groups4(cout), cinPerGroup: cin / node.groups, coutPerGroup: cout / node.groups,
    kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation, epilogue,
  }, label);
  const weight = ctx.upload(weights[`${node.key}.weight`]!.data, `${label} weight`);
  return [...before, { program, buffers: [ctx.buffer(step.reads[0]!), { buffer: weight }, ...buffers, ctx.buffer(step.outputs[0]!)] }];
}
