/** Shared by the engine tests: an allclose check that reports where and by how much it fails, seeded tensors, the WebAssembly kernels. */
import type { Tensor } from '../../src/shared/tensor';
import type { CpuKernels } from '../../src/engine/cpu/kernels/cpuKernels';
import { buildKernels } from '../../src/engine/cpu/wasm/buildKernels.mjs';
import { createWasmKernels } from '../../src/engine/cpu/wasm/wasmKernels';

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

/** A tensor of uniform values in [-1, 1) from a seeded LCG: the same seed, the same tensor. */
export function randomTensor(shape: number[], seed: number): Tensor {
  let state = seed >>> 0 || 1;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = (state / 4294967296) * 2 - 1;
  }
  return { shape, data };
}

/**
 * The WebAssembly SIMD kernels, built from source. Node 20 has WebAssembly SIMD: kernels that do
 * not instantiate here are a failure, not a skip.
 */
export async function loadWasmKernels(): Promise<CpuKernels> {
  const created = await createWasmKernels(buildKernels({ quiet: true }));
  if (!created) throw new Error('the WebAssembly SIMD kernels did not instantiate');
  return created;
}
