/**
 * The epilogue on its own: BatchNorm (as scale and shift), an activation and/or a residual add
 * over a whole tensor, for the cases no producing program can absorb (a BatchNorm first in a
 * model, an activation after a pool, a residual whose body ends in a pool...).
 */
import { activationKind } from '../activationKind';
import { encodeEpilogue, foldBatchNorm, layoutOf, type EncodeContext, type EncodedDispatch, type EpilogueParts } from './encoding';
import { groups4, perItemProgram, type Program } from './program';
import { paddedElements } from './repack';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, type Epilogue } from './wgsl/common';

/** `vec4s`: the tensor's size in vec4s; `channels4`: vec4s per pixel (or per row of a flat tensor). */
export function elementwiseProgram(vec4s: number, channels4: number, epilogue: Epilogue, label: string): Program {
  return perItemProgram({
    label,
    shaderKey: `elementwise-${epilogueKey(epilogue)}`,
    uniforms: [['total', vec4s], ['C4', channels4], ...epilogueUniforms(epilogue)],
    bindings: epilogueProgramBindings([{ name: 'x', access: 'read', element: 'vec4<f32>' }], epilogue),
    helpers: epilogueWgsl(epilogue),
    main: 'y[t] = epilogue(x[t], t % u.C4, t);',
  });
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
