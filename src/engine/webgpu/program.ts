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

/** Number of vec4s (groups of 4 channels) that hold `channels`. */
export const groups4 = (channels: number) => Math.ceil(channels / 4);
