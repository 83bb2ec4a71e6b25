/**
 * The epilogue on its own: BatchNorm (as scale and shift), an activation and/or a residual add
 * over a whole tensor, for the cases no producing program can absorb (a BatchNorm first in a
 * model, an activation after a pool, a residual whose body ends in a pool...).
 */
import { dispatch1d, LINEAR_WORKGROUP, type Program } from './program';
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
