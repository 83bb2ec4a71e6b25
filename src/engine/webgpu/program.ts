/**
 * One program per op variant: each declares its bindings, its uniforms (shapes: one pipeline
 * serves every shape), its workgroup size, its dispatch and a `shaderKey` covering everything that
 * changes its WGSL. {@link shaderSource} adds the common preamble (the uniform struct and the
 * binding declarations).
 */

export interface Binding {
  name: string;
  /** 'read' inputs, 'write' the output. */
  access: 'read' | 'write';
  /** Element type of the storage array. */
  element: 'vec4<f32>' | 'f32';
}

export interface Program {
  /** What the timings call this dispatch. */
  label: string;
  /** Everything that changes the WGSL text; programs with equal keys share one pipeline. */
  shaderKey: string;
  workgroupSize: [number, number, number];
  /** Workgroups in x, y, z. */
  dispatch: [number, number, number];
  /** i32 uniform fields, in declaration order. */
  uniforms: Array<[name: string, value: number]>;
  bindings: Binding[];
  /** WGSL after the preamble: helper functions and `fn main(...)` (its `@compute` line is added). */
  body: string;
}

/** The complete WGSL of a program. Uniform field names are part of it, values are not. */
export function shaderSource(program: Program): string {
  const fields = program.uniforms.map(([name]) => `  ${name}: i32,`).join('\n');
  const bindings = program.bindings
    .map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.access === 'read' ? 'read' : 'read_write'}> ${b.name}: array<${b.element}>;`)
    .join('\n');
  const [x, y, z] = program.workgroupSize;
  const body = program.body.replace(/^\s*fn main/m, `@compute @workgroup_size(${x}, ${y}, ${z})\nfn main`);
  return `// ${program.shaderKey}\nstruct Uniforms {\n${fields || '  unused: i32,'}\n}\n@group(0) @binding(0) var<uniform> u: Uniforms;\n${bindings}\n${body}\n`;
}

/** Largest workgroup count per dimension WebGPU guarantees. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/**
 * A 1-D dispatch of `count` workgroups split over x and y when it exceeds the per-dimension limit;
 * shaders rebuild the linear index with {@link LINEAR_WORKGROUP}.
 */
export function dispatch1d(count: number): [number, number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIMENSION) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIMENSION);
  return [Math.ceil(count / y), y, 1];
}

/** WGSL: the linear workgroup index of a {@link dispatch1d} dispatch, given `wid` and `nwg` builtins. */
export const LINEAR_WORKGROUP = 'i32(wid.x + wid.y * nwg.x)';

/** 64 threads: a multiple of SwiftShader's SIMD width and of every GPU's subgroup size. */
export const ITEM_WORKGROUP = 64;

/** A program of one thread per item (an output element or vec4), for {@link perItemProgram}. */
export interface PerItemSpec {
  label: string;
  shaderKey: string;
  /** i32 uniform fields, in declaration order; one of them is `total`, the number of items. */
  uniforms: Array<[name: string, value: number]>;
  bindings: Binding[];
  /** WGSL before `fn main`: helper functions, the epilogue. */
  helpers?: string;
  /** The statements of `fn main` for item `t` (below `u.total`). */
  main: string;
}

/**
 * The program of a {@link PerItemSpec}: {@link ITEM_WORKGROUP} threads a workgroup over a
 * {@link dispatch1d} grid of `total` threads, each with its item's index `t`; the threads past the
 * last item return at once.
 */
export function perItemProgram(spec: PerItemSpec): Program {
  const total = spec.uniforms.find(([name]) => name === 'total')?.[1];
  if (total === undefined) throw new Error(`internal: program ${spec.shaderKey} has no total uniform`);
  return {
    label: spec.label,
    shaderKey: spec.shaderKey,
    workgroupSize: [ITEM_WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / ITEM_WORKGROUP)),
    uniforms: spec.uniforms,
    bindings: spec.bindings,
    body: `${spec.helpers ?? ''}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${ITEM_WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  ${spec.main.trim()}
}`,
  };
}

/** Number of vec4s (groups of 4 channels) that hold `channels`. */
export const groups4 = (channels: number) => Math.ceil(channels / 4);
