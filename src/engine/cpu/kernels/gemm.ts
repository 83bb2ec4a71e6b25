/**
 * A cache-blocked single-precision GEMM for NCHW convolutions:
 * C[M x N] = A[M x K] * B[K x N], A row-major with row stride K (the weights), B and C with
 * row strides ldb / ldc (activations: one row per channel, N pixels), then the epilogue on
 * every finished block of C while it is still in cache.
 */
import type { Epilogue } from './cpuKernels';
import { finishRange } from './epilogue';

/** Columns of B per block: 256 floats per row keep a 4-row C block and 4 B rows in 8 KB of L1. */
const BLOCK_N = 256;
/** Rows of B per block: 128 x 256 floats = 128 KB, resident in L2 while every 4-row pass streams over it. */
const BLOCK_K = 128;

export interface GemmOperands {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  aOffset: number;
  b: Float32Array;
  bOffset: number;
  ldb: number;
  c: Float32Array;
  cOffset: number;
  ldc: number;
  epilogue: Epilogue;
  /** The output channel of C's row 0 (the epilogue's bias index); 0 unless the conv is grouped. */
  channelOffset: number;
}

export function gemm(op: GemmOperands): void {
  const { m, n, k, a, aOffset, b, bOffset, ldb, c, cOffset, ldc } = op;
  for (let n0 = 0; n0 < n; n0 += BLOCK_N) {
    const n1 = Math.min(n, n0 + BLOCK_N);
    for (let k0 = 0; k0 < k; k0 += BLOCK_K) {
      const k1 = Math.min(k, k0 + BLOCK_K);
      const first = k0 === 0;
      const last = k1 === k;
      let row = 0;
      for (; row + 4 <= m; row += 4) {
        const c0 = cOffset + row * ldc,
          c1 = c0 + ldc,
          c2 = c1 + ldc,
          c3 = c2 + ldc;
        if (first) {
          c.fill(0, c0 + n0, c0 + n1);
          c.fill(0, c1 + n0, c1 + n1);
          c.fill(0, c2 + n0, c2 + n1);
          c.fill(0, c3 + n0, c3 + n1);
        }
        const a0 = aOffset + row * k,
          a1 = a0 + k,
          a2 = a1 + k,
          a3 = a2 + k;
        let kk = k0;
        // 4 rows of A x 4 rows of B per pass: 16 multiply-adds per 4 loads and 4 stores of C.
        for (; kk + 4 <= k1; kk += 4) {
          const x00 = a[a0 + kk]!,
            x01 = a[a0 + kk + 1]!,
            x02 = a[a0 + kk + 2]!,
            x03 = a[a0 + kk + 3]!;
          const x10 = a[a1 + kk]!,
            x11 = a[a1 + kk + 1]!,
            x12 = a[a1 + kk + 2]!,
            x13 = a[a1 + kk + 3]!;
          const x20 = a[a2 + kk]!,
            x21 = a[a2 + kk + 1]!,
            x22 = a[a2 + kk + 2]!,
            x23 = a[a2 + kk + 3]!;
          const x30 = a[a3 + kk]!,
            x31 = a[a3 + kk + 1]!,
            x32 = a[a3 + kk + 2]!,
            x33 = a[a3 + kk + 3]!;
          const b0 = bOffset + kk * ldb,
            b1 = b0 + ldb,
            b2 = b1 + ldb,
            b3 = b2 + ldb;
          for (let j = n0; j < n1; j++) {
            const y0 = b[b0 + j]!,
              y1 = b[b1 + j]!,
              y2 = b[b2 + j]!,
              y3 = b[b3 + j]!;
            c[c0 + j] = c[c0 + j]! + x00 * y0 + x01 * y1 + x02 * y2 + x03 * y3;
            c[c1 + j] = c[c1 + j]! + x10 * y0 + x11 * y1 + x12 * y2 + x13 * y3;
            c[c2 + j] = c[c2 + j]! + x20 * y0 + x21 * y1 + x22 * y2 + x23 * y3;
            c[c3 + j] = c[c3 + j]! + x30 * y0 + x31 * y1 + x32 * y2 + x33 * y3;
          }
        }
        for (; kk < k1; kk++) {
          const x0 = a[a0 + kk]!,
            x1 = a[a1 + kk]!,
            x2 = a[a2 + kk]!,
            x3 = a[a3 + kk]!;
          const b0 = bOffset + kk * ldb;
          for (let j = n0; j < n1; j++) {
            const y = b[b0 + j]!;
            c[c0 + j] = c[c0 + j]! + x0 * y;
            c[c1 + j] = c[c1 + j]! + x1 * y;
            c[c2 + j] = c[c2 + j]! + x2 * y;
            c[c3 + j] = c[c3 + j]! + x3 * y;
          }
        }
        if (last)
          for (let r = 0; r < 4; r++) finishRange(op.epilogue, c, cOffset + (row + r) * ldc + n0, cOffset + (row + r) * ldc + n1, op.channelOffset + row + r);
      }
      for (; row < m; row++) {
        const c0 = cOffset + row * ldc;
        if (first) c.fill(0, c0 + n0, c0 + n1);
        const a0 = aOffset + row * k;
        for (let kk = k0; kk < k1; kk++) {
          const x = a[a0 + kk]!;
          const b0 = bOffset + kk * ldb;
          for (let j = n0; j < n1; j++) c[c0 + j] = c[c0 + j]! + x * b[b0 + j]!;
        }
        if (last) finishRange(op.epilogue, c, c0 + n0, c0 + n1, op.channelOffset + row);
      }
    }
  }
}
