/**
 * The epilogue on its own: BatchNorm (as scale and shift), an activation and/or a residual add
 * over a whole tensor, for the cases no producing program can absorb (a BatchNorm first in a
 * model, an activation after a pool, a residual whose body ends in a pool...).
 */
import { activationKind } from '../activationKind';
import { encodeEpilogue, foldBatchNorm, layoutOf, type EncodeContext, type EncodedDispatch, type EpilogueParts } from './encoding';
import { dispatch1d, groups4, LINEAR_WORKGROUP, type Program } from './program';
import { paddedElements } from './repack';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, type Epilogue } from './wgsl/common';

const WORKGROUP = 64;

/** `vec4s`: the tensor's size in vec4s; `channels4`: vec4s per pixel (or per row of a flat tensor). */
export function elementwiseProgram(vec4s: number, channels4: number, epilogue: Epilogue, label: string): Program {
  return {
    label,
    shaderKey: `elementwise-${epilogueKey(epilogue)}`,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(vec4s / WORKGROUP)),
    uniforms: [['total', vec4s], ['C4', channels4], ...epilogueUniforms(epilogue)],
    bindings: epilogueProgramBindings([{ name: 'x', access: 'read', element: 'vec4<f32>' }], epilogue),
    body: `${epilogueWgsl(epilogue)}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  y[t] = epilogue(x[t], t % u.C4, t);
}`,
  };
}

/**
 * A BatchNorm, activation or same-shape Add step: the epilogue alone, over the input's vec4s
 * (the addend of a fused Add, or the second operand of an Add, as its residual).
 */
export function encodeElementwise(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = step.node.attrs;
  const input = step.reads[0]!;
  const layout = layoutOf(graph.values[input]!.shape);
  const channels = layout.kind === 'nhwc' ? layout.c : layout.cols;
  let parts: EpilogueParts = {};
  if (node.op === 'batchnorm2d') {
    parts = node.trackRunningStats ? foldBatchNorm(ctx, node, channels) : { batchStatistics: { key: node.key, eps: node.eps, affine: node.affine, input } };
  }
  let { epilogue, buffers, before } = encodeEpilogue(ctx, channels, parts);
  if (node.op === 'add') {
    // An Add of its own: the second operand is the residual.
    epilogue = { affine: false, activation: 'none', residual: true };
    buffers = [ctx.buffer(step.reads[1]!)];
  } else if (node.op === 'activation') {
    epilogue = { ...epilogue, activation: activationKind(node.fn, node.approximate), negativeSlope: node.negativeSlope };
  } else if (node.op !== 'batchnorm2d') {
    throw new Error(`internal: ${node.key} (${node.op}) is not an elementwise step`);
  }
  const program = elementwiseProgram(paddedElements(layout) / 4, groups4(channels), epilogue, ctx.label);
  return [...before, { program, buffers: [ctx.buffer(input), ...buffers, ctx.buffer(step.outputs[0]!)] }];
}
