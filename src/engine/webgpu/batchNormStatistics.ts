/**
 * BatchNorm2d without running stats normalises with the batch's own mean and biased variance,
 * also in eval mode. One thread per channel group computes them (two passes over N, H, W: the
 * mean first, then the squared deviations, which keeps the variance accurate) and writes the
 * per-channel scale and shift that the elementwise program then applies.
 */
import { type Program } from './program';

const WORKGROUP = 64;

/** Bytes from the start of the output buffer to the shifts: storage bindings need 256-byte offsets. */
export const shiftOffsetBytes = (c4: number) => Math.ceil((c4 * 16) / 256) * 256;

export function batchNormStatisticsProgram(pixels: number, c4: number, eps: number, label: string): Program {
  const epsBits = new Int32Array(new Float32Array([eps]).buffer)[0]!;
  const shiftAt = shiftOffsetBytes(c4) / 16;
  return {
    label: `${label} (batch statistics)`,
    shaderKey: 'batchnorm-statistics',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: [Math.ceil(c4 / WORKGROUP), 1, 1],
    uniforms: [
      ['pixels', pixels],
      ['C4', c4],
      ['epsBits', epsBits],
      ['shiftAt', shiftAt],
    ],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      // gamma (C4 vec4s), then beta (C4 vec4s); padded channels have gamma 0.
      { name: 'params', access: 'read', element: 'vec4<f32>' },
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    body: `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c4 = i32(gid.x);
  if (c4 >= u.C4) { return; }
  var sum = vec4<f32>(0.0);
  for (var p = 0; p < u.pixels; p++) { sum += x[p * u.C4 + c4]; }
  let mean = sum / f32(u.pixels);
  var squares = vec4<f32>(0.0);
  for (var p = 0; p < u.pixels; p++) { let d = x[p * u.C4 + c4] - mean; squares = fma(d, d, squares); }
  let variance = squares / f32(u.pixels);
  let scale = params[c4] / sqrt(variance + bitcast<f32>(u.epsBits));
  y[c4] = scale;
  y[u.shiftAt + c4] = params[u.C4 + c4] - mean * scale;
}`,
  };
}
