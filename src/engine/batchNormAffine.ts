/** BatchNorm2d at inference as a per-channel affine map, shared by the CPU and WebGPU plans. */
import type { ResolvedBatchNorm } from '../shared/spec';

/**
 * y = scale * x + shift per channel, with scale = gamma / sqrt(variance + eps) and
 * shift = beta - mean * scale, in float64. `gamma` and `beta` are absent when the BatchNorm has
 * no affine parameters (1 and 0). `mean` and `variance` are the running statistics, or a batch's own.
 */
export function batchNormAffine(
  node: ResolvedBatchNorm,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  gamma: ArrayLike<number> | undefined,
  beta: ArrayLike<number> | undefined,
): { scale: Float64Array; shift: Float64Array } {
  const scale = new Float64Array(node.numFeatures);
  const shift = new Float64Array(node.numFeatures);
  for (let c = 0; c < node.numFeatures; c++) {
    const s = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + node.eps);
    scale[c] = s;
    shift[c] = (beta ? beta[c]! : 0) - mean[c]! * s;
  }
  return { scale, shift };
}
