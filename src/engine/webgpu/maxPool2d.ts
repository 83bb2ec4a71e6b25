/**
 * MaxPool2d: one thread per output vec4 (four channels of one pixel), the max over the dilated
 * window; the padding counts as -inf, so it never wins. Kernel, stride, padding and dilation are
 * uniforms: one pipeline serves every MaxPool2d.
 */
import type { ResolvedPool2d } from '../../shared/spec';
import { inOutBuffers, pixelMap, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';
import { outputPixelWgsl, pixelMapUniforms, type PixelMap } from './wgsl/common';

export interface Pool2dConfig extends PixelMap {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

/** The uniforms both pooling programs read. */
export function pool2dUniforms(cfg: Pool2dConfig): Array<[string, number]> {
  return [
    ...pixelMapUniforms(cfg),
    ['KH', cfg.kernel[0]],
    ['KW', cfg.kernel[1]],
    ['SY', cfg.stride[0]],
    ['SX', cfg.stride[1]],
    ['PY', cfg.padding[0]],
    ['PX', cfg.padding[1]],
  ];
}

export function maxPool2dProgram(cfg: Pool2dConfig & { dilation: [number, number] }, label: string): Program {
  return perItemProgram({
    label,
    shaderKey: 'maxpool2d',
    // -inf as f32 bits (0xff800000): WGSL has no -inf literal and refuses one it can fold.
    uniforms: [...pool2dUniforms(cfg), ['DY', cfg.dilation[0]], ['DX', cfg.dilation[1]], ['negInf', -0x800000]],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    main: `
  ${outputPixelWgsl('C4')}
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
  y[t] = m;`,
  });
}

/** A pooling step's geometry, from its input and output values and the node's window. */
export function pool2dConfig(ctx: EncodeContext, node: ResolvedPool2d): Pool2dConfig {
  return { ...pixelMap(ctx), kernel: node.kernel, stride: node.stride, padding: node.padding };
}

export function encodeMaxPool2d(ctx: EncodeContext): EncodedDispatch[] {
  const node = stepAttrs(ctx, 'maxpool2d', 'a MaxPool2d');
  return [{ program: maxPool2dProgram({ ...pool2dConfig(ctx, node), dilation: node.dilation }, ctx.label), buffers: inOutBuffers(ctx) }];
}
