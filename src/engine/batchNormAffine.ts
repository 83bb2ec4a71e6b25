/** BatchNorm2d at inference as a per-channel affine map, shared by the CPU and WebGPU plans. */
import type { ResolvedBatchNorm } from '../shared/spec';

const f32 = Math.fround;

/**
 * y = scale * x + shift per channel, with scale = gamma / sqrt(variance + eps) and
 * shift = beta - mean * scale. `gamma` and `beta` are absent when the BatchNorm has no affine
 * parameters (1 and 0). `mean` and `variance` are the running statistics, or a batch's own.
 *
 * With running statistics (`precision` "float32", the default) every operation is rounded to
 * float32 as PyTorch's CPU kernel does it, eps included: `invstd = 1 / sqrt(var + float(eps))`,
 * `scale = invstd * gamma`, `shift = beta - mean * scale` (each operation of float32 values done in
 * float64 and rounded once gives exactly the float32 result). With a batch's own statistics
 * ("float64") PyTorch works in double, eps too, and so does this.
 */
export function batchNormAffine(
  node: ResolvedBatchNorm,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  gamma: ArrayLike<number> | undefined,
  beta: ArrayLike<number> | undefined,
  precision: 'float32' | 'float64' = 'float32',
): { scale: Float64Array; shift: Float64Array } {
  const scale = new Float64Array(node.numFeatures);
  const shift = new Float64Array(node.numFeatures);
  if (precision === 'float64') {
    for (let c = 0; c < node.numFeatures; c++) {
      const s = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + node.eps);
      scale[c] = s;
      shift[c] = (beta ? beta[c]! : 0) - mean[c]! * s;
    }
    return { scale, shift };
  }
  // eps=1e-45 is 1.4e-45 in float32: with a variance of 0 that is 18% on the scale.
  const eps = f32(node.eps);
  for (let c = 0; c < node.numFeatures; c++) {
    const invstd = f32(1 / f32(Math.sqrt(f32(f32(variance[c]!) + eps))));
    const s = f32(invstd * f32(gamma ? gamma[c]! : 1));
    scale[c] = s;
    shift[c] = f32(f32(beta ? beta[c]! : 0) - f32(f32(mean[c]!) * s));
  }
  return { scale, shift };
}
