/**
 * Activation functions as PyTorch defines them, as scalars (for the reference) and as loops over
 * a range of a buffer (for the fast kernels' epilogues).
 */
import type { ActivationKind } from '../activationKind';

/**
 * erf to double precision: the Maclaurin series for |x| < 3 (its terms stay below 1e3, so no
 * digits are lost), the Laplace continued fraction of erfc beyond (it converges fast there).
 * The reference uses it; the fast kernels use {@link erfFast}.
 */
export function erfPrecise(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0;
    let term = x; // x^(2n+1) (-1)^n / n!
    for (let n = 0; n < 60; n++) {
      const contribution = term / (2 * n + 1);
      sum += contribution;
      if (Math.abs(contribution) < 1e-17 * Math.abs(sum)) break;
      term *= (-x * x) / (n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated from the tail.
  let fraction = ax;
  for (let n = 60; n >= 1; n--) fraction = ax + n / 2 / fraction;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / fraction;
  return x > 0 ? 1 - erfc : erfc - 1;
}

/** Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, well inside float32 GELU outputs' needs. */
export function erfFast(x: number): number {
  const ax = x < 0 ? -x : x;
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return x < 0 ? -y : y;
}

const SQRT_HALF = Math.SQRT1_2;
const GELU_TANH_SCALE = Math.sqrt(2 / Math.PI);

/**
 * One activation on one value, written the way PyTorch's docs define each function.
 * `negativeSlope` is LeakyReLU's (ignored by the others).
 */
export function activateScalar(kind: ActivationKind, x: number, negativeSlope = 0.01): number {
  switch (kind) {
    case 'none':
      return x;
    case 'relu':
      return x > 0 ? x : 0;
    case 'relu6':
      return Math.min(Math.max(x, 0), 6);
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'hardswish':
      return (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
    case 'gelu':
      return 0.5 * x * (1 + erfPrecise(x * SQRT_HALF));
    case 'gelu_tanh':
      return 0.5 * x * (1 + Math.tanh(GELU_TANH_SCALE * (x + 0.044715 * x * x * x)));
    case 'hardsigmoid':
      return Math.min(Math.max(x + 3, 0), 6) / 6;
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'tanh':
      return Math.tanh(x);
    case 'leaky_relu':
      return x > 0 ? x : x * negativeSlope;
  }
}

/** Applies an activation in place to data[start, end): one tight loop per kind. `negativeSlope` is LeakyReLU's. */
export function activateRange(kind: ActivationKind, data: Float32Array, start: number, end: number, negativeSlope = 0.01): void {
  switch (kind) {
    case 'none':
      return;
    case 'relu':
      for (let i = start; i < end; i++) if (data[i]! < 0) data[i] = 0;
      return;
    case 'relu6':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = v < 0 ? 0 : v > 6 ? 6 : v;
      }
      return;
    case 'silu':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = v / (1 + Math.exp(-v));
      }
      return;
    case 'hardswish':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = v <= -3 ? 0 : v >= 3 ? v : (v * (v + 3)) / 6;
      }
      return;
    case 'gelu':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = 0.5 * v * (1 + erfFast(v * SQRT_HALF));
      }
      return;
    case 'gelu_tanh':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = 0.5 * v * (1 + Math.tanh(GELU_TANH_SCALE * (v + 0.044715 * v * v * v)));
      }
      return;
    case 'hardsigmoid':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        data[i] = v <= -3 ? 0 : v >= 3 ? 1 : v / 6 + 0.5;
      }
      return;
    case 'sigmoid':
      for (let i = start; i < end; i++) data[i] = 1 / (1 + Math.exp(-data[i]!));
      return;
    case 'tanh':
      for (let i = start; i < end; i++) data[i] = Math.tanh(data[i]!);
      return;
    case 'leaky_relu':
      for (let i = start; i < end; i++) {
        const v = data[i]!;
        if (v < 0) data[i] = v * negativeSlope;
      }
      return;
  }
}
