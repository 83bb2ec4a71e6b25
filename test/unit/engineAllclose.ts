/** Shared by the engine tests: an allclose check that reports where and by how much it fails. */
import type { Tensor } from '../../src/shared/tensor';

/** Index and size of the worst violation of |a - b| <= atol + rtol * |b|, or undefined when all are close. */
export function allcloseViolation(actual: Tensor, expected: Tensor, atol = 1e-4, rtol = 1e-4): string | undefined {
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return `shape [${actual.shape}] != expected [${expected.shape}]`;
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const b = expected.data[i]!;
    const excess = Math.abs(a - b) - (atol + rtol * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst < 0) return undefined;
  return `element ${worst}: ${actual.data[worst]} vs expected ${expected.data[worst]} (|diff| ${Math.abs(actual.data[worst]! - expected.data[worst]!)})`;
}
