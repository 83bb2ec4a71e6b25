/**
 * Add and Mul with numpy broadcasting (a channel gate N,C,H,W * N,C,1,1; an Add of a bias row):
 * one thread per padded output element, each operand addressed through its strides, a
 * stretched dimension with stride 0. Padding elements are written as zeros.
 */
import { as4d, decodeOutputWgsl, outputUniforms, stridesOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';

/** Strides of an operand read at the output's logical index: 0 where it is stretched. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const dims = as4d(shape);
  const out = as4d(outShape);
  return stridesOf(shape).map((s, i) => (dims[i] === 1 && out[i] !== 1 ? 0 : s));
}

export function binaryProgram(op: 'add' | 'mul', a: readonly number[], b: readonly number[], out: readonly number[], label: string): Program {
  const sa = broadcastStrides(a, out);
  const sb = broadcastStrides(b, out);
  return perItemProgram({
    label,
    shaderKey: `binary-${op}-${as4d(out).length}-${out.length === 4 ? 'nhwc' : 'flat'}`,
    uniforms: [...outputUniforms(out), ...sa.map((s, i): [string, number] => [`a${i}`, s]), ...sb.map((s, i): [string, number] => [`b${i}`, s])],
    bindings: [
      { name: 'a', access: 'read', element: 'f32' },
      { name: 'b', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  ${decodeOutputWgsl(out)}
  let ia = i[0] * u.a0 + i[1] * u.a1 + i[2] * u.a2 + i[3] * u.a3;
  let ib = i[0] * u.b0 + i[1] * u.b1 + i[2] * u.b2 + i[3] * u.b3;
  y[t] = a[ia] ${op === 'add' ? '+' : '*'} b[ib];`,
  });
}

export function encodeBinary(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const op = step.node.op;
  if (op !== 'add' && op !== 'mul') throw new Error(`internal: ${step.node.key} is not an Add or a Mul`);
  const [a, b] = step.reads as [number, number];
  const out = step.outputs[0]!;
  const program = binaryProgram(op, graph.values[a]!.shape, graph.values[b]!.shape, graph.values[out]!.shape, ctx.label);
  return [{ program, buffers: [ctx.buffer(a), ctx.buffer(b), ctx.buffer(out)] }];
}
