/** AdaptiveAvgPool2d with PyTorch's bins: rows floor(i*H/OH) .. ceil((i+1)*H/OH), likewise columns. */
import { inOutBuffers, pixelMap, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';
import { outputPixelWgsl, pixelMapUniforms, type PixelMap } from './wgsl/common';

export function adaptiveAvgPool2dProgram(map: PixelMap, label: string): Program {
  return perItemProgram({
    label,
    shaderKey: 'adaptiveavgpool2d',
    uniforms: pixelMapUniforms(map),
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    main: `
  ${outputPixelWgsl('C4')}
  let y0 = (oy * u.H) / u.OH;
  let y1 = ((oy + 1) * u.H + u.OH - 1) / u.OH;
  let x0 = (ox * u.W) / u.OW;
  let x1 = ((ox + 1) * u.W + u.OW - 1) / u.OW;
  var s = vec4<f32>(0.0);
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { s += x[((n * u.H + iy) * u.W + ix) * u.C4 + c4]; }
  }
  y[t] = s / f32((y1 - y0) * (x1 - x0));`,
  });
}

export function encodeAdaptiveAvgPool2d(ctx: EncodeContext): EncodedDispatch[] {
  stepAttrs(ctx, 'adaptiveavgpool2d', 'an AdaptiveAvgPool2d');
  return [{ program: adaptiveAvgPool2dProgram(pixelMap(ctx), ctx.label), buffers: inOutBuffers(ctx) }];
}
