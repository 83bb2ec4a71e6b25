/**
 * Softmax along a dim: one thread per padded output element walks its row along the dim twice
 * (the maximum, then the sum of exp(x - max)), so the result matches the plain formula without
 * a second pass over memory. Rows are short in the models this serves (classes, channels).
 */
import { as4d, axis4, decodeOutputWgsl, inOutBuffers, outputUniforms, stepAttrs, stridesOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';

export function softmaxProgram(shape: readonly number[], axis: number, label: string): Program {
  const strides = stridesOf(shape);
  return perItemProgram({
    label,
    shaderKey: `softmax-${axis}-${shape.length === 4 ? 'nhwc' : 'flat'}`,
    uniforms: [...outputUniforms(shape), ...strides.map((s, i): [string, number] => [`s${i}`, s]), ['len', as4d(shape)[axis]!]],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  ${decodeOutputWgsl(shape)}
  let own = i[0] * u.s0 + i[1] * u.s1 + i[2] * u.s2 + i[3] * u.s3;
  i[${axis}] = 0;
  let base = i[0] * u.s0 + i[1] * u.s1 + i[2] * u.s2 + i[3] * u.s3;
  let stride = u.s${axis};
  var m = x[base];
  for (var k = 1; k < u.len; k++) { m = max(m, x[base + k * stride]); }
  var s = 0.0;
  for (var k = 0; k < u.len; k++) { s += exp(x[base + k * stride] - m); }
  y[t] = exp(x[own] - m) / s;`,
  });
}

export function encodeSoftmax(ctx: EncodeContext): EncodedDispatch[] {
  const node = stepAttrs(ctx, 'softmax', 'a Softmax');
  const shape = ctx.graph.values[ctx.step.reads[0]!]!.shape;
  return [{ program: softmaxProgram(shape, axis4(node.dim, shape.length), ctx.label), buffers: inOutBuffers(ctx) }];
}
