/**
 * Softmax along a dim: one thread per padded output element walks its row along the dim twice
 * (the maximum, then the sum of exp(x - max)), so the result matches the plain formula without
 * a second pass over memory. Rows are short in the models this serves (classes, channels).
 */
import { as4d, decodeOutputWgsl, outputUniforms, stridesOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { dispatch1d, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export function softmaxProgram(shape: readonly number[], axis: number, label: string): Program {
  const uniforms = outputUniforms(shape);
  const total = uniforms.find(([name]) => name === 'total')![1];
  const strides = stridesOf(shape);
  return {
    label,
    shaderKey: `softmax-${axis}-${shape.length === 4 ? 'nhwc' : 'flat'}`,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [...uniforms, ...strides.map((s, i): [string, number] => [`s${i}`, s]), ['len', as4d(shape)[axis]!]],
    bindings: [{ name: 'x', access: 'read', element: 'f32' }, { name: 'y', access: 'write', element: 'f32' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  ${decodeOutputWgsl(shape)}
  let own = i[0] * u.s0 + i[1] * u.s1 + i[2] * u.s2 + i[3] * u.s3;
  i[${axis}] = 0;
  let base = i[0] * u.s0 + i[1] * u.s1 + i[2] * u.s2 + i[3] * u.s3;
  let stride = u.s${axis};
  var m = x[base];
  for (var k = 1; k < u.len; k++) { m = max(m, x[base + k * stride]); }
  var s = 0.0;
  for (var k = 0; k < u.len; k++) { s += exp(x[base + k * stride] - m); }
  y[t] = exp(x[own] - m) / s;
}`,
  };
}

export function encodeSoftmax(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'softmax') throw new Error(`internal: ${node.key} is not a Softmax`);
  const shape = graph.values[step.reads[0]!]!.shape;
  const axis = (node.dim < 0 ? shape.length + node.dim : node.dim) + (4 - shape.length);
  return [{ program: softmaxProgram(shape, axis, ctx.label), buffers: [ctx.buffer(step.reads[0]!), ctx.buffer(step.outputs[0]!)] }];
}
