/**
 * A Linear step on the GPU: the GEMM program over the input's rows, the weight transposed to
 * [in, out] with both padded to vec4s, the bias as the epilogue's shift. A 4-D input (a Linear
 * over the last dimension of a feature map) is repacked from NHWC to rows, and its output back.
 */
import { gemmFor } from './conv2d';
import { encodeEpilogue, layoutOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { groups4 } from './program';
import { paddedElements, repackProgram } from './repack';

export function encodeLinear(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph, weights, label } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'linear') throw new Error(`internal: ${node.key} is not a Linear`);
  const shape = graph.values[step.reads[0]!]!.shape;
  const weight = weights[`${node.key}.weight`]!.data;
  const k4 = groups4(node.inFeatures);
  const n4 = groups4(node.outFeatures);
  const b = new Float32Array(k4 * 4 * n4 * 4);
  for (let o = 0; o < node.outFeatures; o++) for (let i = 0; i < node.inFeatures; i++) b[i * n4 * 4 + o] = weight[o * node.inFeatures + i]!;
  const bias = node.bias ? weights[`${node.key}.bias`]!.data : undefined;
  const { epilogue, buffers, before } = encodeEpilogue(ctx, node.outFeatures, { shift: bias, alwaysAffine: true });
  const dispatches: EncodedDispatch[] = [...before];
  let x = ctx.buffer(step.reads[0]!);
  const from = layoutOf(shape);
  const rows = shape.slice(0, -1).reduce((a, d) => a * d, 1);
  if (from.kind === 'nhwc') {
    const to = { kind: 'flat' as const, rows, cols: node.inFeatures };
    const flat = ctx.scratch(paddedElements(to) * 4, `${label} rows`);
    dispatches.push({ program: repackProgram(from, to, `${label} (layout)`), buffers: [x, { buffer: flat }] });
    x = { buffer: flat };
  }
  const program = gemmFor(ctx, { m: rows, k4, n4, source: { kind: 'matrix' }, epilogue });
  const outShape = graph.values[step.outputs[0]!]!.shape;
  const into = layoutOf(outShape);
  if (into.kind === 'flat') {
    dispatches.push({ program, buffers: [x, { buffer: ctx.upload(b, `${label} weight`) }, ...buffers, ctx.buffer(step.outputs[0]!)] });
    return dispatches;
  }
  // A 4-D output is NHWC: the GEMM writes rows, then a repack.
  const rowsLayout = { kind: 'flat' as const, rows, cols: node.outFeatures };
  const product = ctx.scratch(paddedElements(rowsLayout) * 4, `${label} product`);
  dispatches.push({ program, buffers: [x, { buffer: ctx.upload(b, `${label} weight`) }, ...buffers, { buffer: product }] });
  dispatches.push({ program: repackProgram(rowsLayout, into, `${label} (layout)`), buffers: [{ buffer: product }, ctx.buffer(step.outputs[0]!)] });
  return dispatches;
}
