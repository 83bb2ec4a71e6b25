/**
 * Concat and Split: one thread per padded output element copies the element it stands for
 * from the input that holds it (Concat: the input whose range along `dim` covers the output
 * coordinate; Split: the one input, shifted to the chunk's start). Padding elements are zeros.
 * A Concat takes at most {@link MAX_CONCAT_INPUTS} inputs per dispatch (storage bindings per shader):
 * one of more inputs (DenseNet's blocks concatenate up to 33) runs as several dispatches, each
 * writing the stretch of the output its inputs cover.
 */
import { as4d, axis4, decodeOutputWgsl, outputUniforms, stepAttrs, stridesOf, type EncodeContext, type EncodedDispatch } from './encoding';
import { perItemProgram, type Program } from './program';

/** WebGPU guarantees 8 storage buffers per shader stage: the output and 7 inputs. */
export const MAX_CONCAT_INPUTS = 7;

interface Source {
  shape: readonly number[];
  /** The output coordinate along the axis where this source ends (exclusive). */
  end: number;
  /** Added to the output coordinate along the axis to get the source's. */
  shift: number;
}

/**
 * `axis` is the dim in the 4-D view of the shapes (see as4d). With `range`, only the output
 * elements whose coordinate along the axis lies in [begin, limit) are written (and padding).
 */
export function gatherProgram(sources: Source[], out: readonly number[], axis: number, label: string, range?: { begin: number; limit: number }): Program {
  const fields: Array<[string, number]> = range
    ? [
        ['begin', range.begin],
        ['limit', range.limit],
      ]
    : [];
  sources.forEach((source, j) => {
    stridesOf(source.shape).forEach((s, i) => fields.push([`s${j}_${i}`, s]));
    fields.push([`end${j}`, source.end], [`shift${j}`, source.shift]);
  });
  const reads = sources.map((_, j) => {
    const at = `(i[0] * u.s${j}_0 + i[1] * u.s${j}_1 + i[2] * u.s${j}_2 + i[3] * u.s${j}_3)`;
    const read = `i[${axis}] = i[${axis}] + u.shift${j}; y[t] = x${j}[${at}]; return;`;
    return j === sources.length - 1 ? `{ ${read} }` : `if (i[${axis}] < u.end${j}) { ${read} }`;
  });
  return perItemProgram({
    label,
    shaderKey: `gather-${sources.length}-${axis}-${out.length === 4 ? 'nhwc' : 'flat'}-${sources.map((s) => (s.shape.length === 4 ? 'n' : 'f')).join('')}${range ? '-range' : ''}`,
    uniforms: [...outputUniforms(out), ...fields],
    bindings: [...sources.map((_, j) => ({ name: `x${j}`, access: 'read' as const, element: 'f32' as const })), { name: 'y', access: 'write', element: 'f32' }],
    main: `
  ${decodeOutputWgsl(out)}
  ${range ? `if (i[${axis}] < u.begin || i[${axis}] >= u.limit) { return; }` : ''}
  ${reads.join('\n  ')}`,
  });
}

export function encodeConcat(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = stepAttrs(ctx, 'concat', 'a Concat');
  const out = graph.values[step.outputs[0]!]!.shape;
  const axis = axis4(node.dim, out.length);
  let start = 0;
  const sources = step.reads.map((id) => {
    const shape = graph.values[id]!.shape;
    const size = as4d(shape)[axis]!;
    const source = { shape, end: start + size, shift: -start };
    start += size;
    return source;
  });
  const output = ctx.buffer(step.outputs[0]!);
  if (sources.length <= MAX_CONCAT_INPUTS)
    return [{ program: gatherProgram(sources, out, axis, ctx.label), buffers: [...step.reads.map((id) => ctx.buffer(id)), output] }];
  const dispatches: EncodedDispatch[] = [];
  for (let first = 0; first < sources.length; first += MAX_CONCAT_INPUTS) {
    const group = sources.slice(first, first + MAX_CONCAT_INPUTS);
    const range = { begin: -group[0]!.shift, limit: group[group.length - 1]!.end };
    dispatches.push({
      program: gatherProgram(group, out, axis, `${ctx.label}[${first}:${first + group.length}]`, range),
      buffers: [...step.reads.slice(first, first + group.length).map((id) => ctx.buffer(id)), output],
    });
  }
  return dispatches;
}

export function encodeSplit(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = stepAttrs(ctx, 'split', 'a Split');
  const input = graph.values[step.reads[0]!]!.shape;
  const axis = axis4(node.dim, input.length);
  let start = 0;
  return step.outputs.map((id, j) => {
    const out = graph.values[id]!.shape;
    const source = { shape: input, end: as4d(out)[axis]!, shift: start };
    start += as4d(out)[axis]!;
    return { program: gatherProgram([source], out, axis, `${ctx.label}:${j}`), buffers: [ctx.buffer(step.reads[0]!), ctx.buffer(id)] };
  });
}
