/**
 * A conv step on the GPU: picks the program (depthwise with multiplier 1, GEMM for groups = 1 as
 * a matrix product or an implicit-GEMM conv, the grouped program otherwise), lays the weights out
 * for it and folds bias and BatchNorm into the epilogue's scale and shift.
 */
import { depthwiseConv2dProgram, depthwiseConv2dTiledProgram } from './depthwiseConv2d';
import { encodeEpilogue, featureMaps, foldBatchNorm, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { gemmProgram, gemmRegisterTiledProgram } from './gemmConv2d';
import { groupedConv2dProgram, groupedShapes } from './groupedConv2d';
import { groups4, type Program } from './program';

/** The GEMM variant the context asks for. */
export function gemmFor(ctx: EncodeContext, cfg: Parameters<typeof gemmProgram>[0]): Program {
  return ctx.gemm === 'registers' ? gemmRegisterTiledProgram(cfg, ctx.label) : gemmProgram(cfg, ctx.label);
}

export function encodeConv2d(ctx: EncodeContext): EncodedDispatch[] {
  const { step, weights, label } = ctx;
  const node = stepAttrs(ctx, 'conv2d', 'a conv');
  const maps = featureMaps(ctx);
  const { n, c: cin, h, w, outChannels: cout, oh, ow } = maps;
  const [kh, kw] = node.kernel;
  const weight = weights[`${node.key}.weight`]!.data;
  const bias = node.bias ? weights[`${node.key}.bias`]!.data : undefined;
  const affine = step.foldedBatchNorm ? foldBatchNorm(ctx, step.foldedBatchNorm, cout, bias) : { scale: undefined, shift: bias };
  const { epilogue, buffers, before } = encodeEpilogue(ctx, cout, { ...affine, alwaysAffine: true });
  const x = ctx.buffer(step.reads[0]!);
  const y = ctx.buffer(step.outputs[0]!);
  const pads = node.pads!;
  const geometry = { kernel: node.kernel, stride: node.stride, dilation: node.dilation, padTop: pads[0], padLeft: pads[2], paddingMode: node.paddingMode };
  const ci4 = groups4(cin);
  const n4 = groups4(cout);
  let program: Program;
  let packed: Float32Array;
  if (node.groups === cin && cout === cin) {
    // Depthwise, multiplier 1: taps as [ky, kx][channel] vec4s.
    packed = new Float32Array(kh * kw * ci4 * 4);
    for (let c = 0; c < cin; c++) for (let t = 0; t < kh * kw; t++) packed[t * ci4 * 4 + c] = weight[c * kh * kw + t]!;
    const cfg = { n, h, w, c4: ci4, oh, ow, ...geometry, epilogue };
    const tiled = ctx.depthwise === 'workgroup' ? depthwiseConv2dTiledProgram(cfg, label, ctx.device.limits.maxComputeWorkgroupStorageSize) : undefined;
    program = tiled ?? depthwiseConv2dProgram(cfg, label);
  } else if (node.groups === 1) {
    const matrix = kh === 1 && kw === 1 && node.stride[0] === 1 && node.stride[1] === 1 && pads.every((p) => p === 0);
    // B[(tap, input channel), output channel], input channels padded to vec4s.
    packed = new Float32Array(kh * kw * ci4 * 4 * n4 * 4);
    for (let oc = 0; oc < cout; oc++) {
      for (let ic = 0; ic < cin; ic++) {
        for (let t = 0; t < kh * kw; t++) packed[(t * ci4 * 4 + ic) * n4 * 4 + oc] = weight[(oc * cin + ic) * kh * kw + t]!;
      }
    }
    const source = matrix ? { kind: 'matrix' as const } : { kind: 'conv' as const, h, w, ci4, oh, ow, ...geometry };
    program = gemmFor(ctx, { m: n * oh * ow, k4: kh * kw * ci4, n4, source, epilogue });
  } else {
    packed = weight;
    program = groupedConv2dProgram({ ...groupedShapes(maps, node.groups), ...geometry, epilogue }, label);
  }
  return [...before, { program, buffers: [x, { buffer: ctx.upload(packed, `${label} weight`) }, ...buffers, y] }];
}
