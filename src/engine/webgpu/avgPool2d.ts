/**
 * AvgPool2d: one thread per output vec4, the sum over the window clipped to the input, divided
 * as PyTorch divides: divisor_override, else the window clipped to the padded input
 * (count_include_pad) or to the input itself. One pipeline serves every AvgPool2d.
 */
import { inOutBuffers, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { pool2dConfig, pool2dUniforms, type Pool2dConfig } from './maxPool2d';
import { perItemProgram, type Program } from './program';
import { outputPixelWgsl } from './wgsl/common';

export function avgPool2dProgram(cfg: Pool2dConfig & { countIncludePad: boolean; divisorOverride?: number }, label: string): Program {
  return perItemProgram({
    label,
    shaderKey: 'avgpool2d',
    // divisor 0: none given (PyTorch refuses 0 itself).
    uniforms: [...pool2dUniforms(cfg), ['includePad', cfg.countIncludePad ? 1 : 0], ['divisor', cfg.divisorOverride ?? 0]],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    main: `
  ${outputPixelWgsl('C4')}
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
  y[t] = s / f32(divisor);`,
  });
}

export function encodeAvgPool2d(ctx: EncodeContext): EncodedDispatch[] {
  const node = stepAttrs(ctx, 'avgpool2d', 'an AvgPool2d');
  const program = avgPool2dProgram({ ...pool2dConfig(ctx, node), countIncludePad: node.countIncludePad, divisorOverride: node.divisorOverride }, ctx.label);
  return [{ program, buffers: inOutBuffers(ctx) }];
}
