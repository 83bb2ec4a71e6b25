/**
 * ConvTranspose2d as a gather: one thread per output vec4, each lane summing, for every tap
 * whose source row (oy + padding - ky * dilation) / stride divides exactly and lands inside the
 * input, its group's input channels times PyTorch's [Cin, Cout / groups, kh, kw] weights. Bias,
 * activation and a fused Add are the shared epilogue. Geometry travels as uniforms: one pipeline
 * per epilogue variant.
 */
import { encodeEpilogue, featureMaps, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { groupedBindings, groupedShapes, groupedUniforms, type GroupedWindow } from './groupedConv2d';
import { perItemProgram, type Program } from './program';
import { epilogueKey, epilogueWgsl, LANE_MAIN_WGSL } from './wgsl/common';

export interface ConvTransposeConfig extends GroupedWindow {
  padding: [number, number];
}

export function convTranspose2dProgram(cfg: ConvTransposeConfig, label: string): Program {
  const helpers = `${epilogueWgsl(cfg.epilogue)}
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
}`;
  return perItemProgram({
    label,
    shaderKey: `convtranspose2d-${epilogueKey(cfg.epilogue)}`,
    uniforms: groupedUniforms(cfg, [
      ['PY', cfg.padding[0]],
      ['PX', cfg.padding[1]],
    ]),
    bindings: groupedBindings(cfg.epilogue),
    helpers,
    main: LANE_MAIN_WGSL,
  });
}

export function encodeConvTranspose2d(ctx: EncodeContext): EncodedDispatch[] {
  const { step, weights, label } = ctx;
  const node = stepAttrs(ctx, 'convtranspose2d', 'a transposed conv');
  const maps = featureMaps(ctx);
  const bias = node.bias ? weights[`${node.key}.bias`]!.data : undefined;
  const { epilogue, buffers, before } = encodeEpilogue(ctx, maps.outChannels, { shift: bias, alwaysAffine: true });
  const program = convTranspose2dProgram(
    {
      ...groupedShapes(maps, node.groups),
      kernel: node.kernel,
      stride: node.stride,
      padding: node.padding,
      dilation: node.dilation,
      epilogue,
    },
    label,
  );
  const weight = ctx.upload(weights[`${node.key}.weight`]!.data, `${label} weight`);
  return [...before, { program, buffers: [ctx.buffer(step.reads[0]!), { buffer: weight }, ...buffers, ctx.buffer(step.outputs[0]!)] }];
}
