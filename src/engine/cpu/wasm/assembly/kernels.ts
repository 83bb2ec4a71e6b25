// The hot CPU kernels, in AssemblyScript with WebAssembly SIMD (128-bit: 4 float32 lanes).
// Built by src/engine/cpu/wasm/buildKernels.mjs (asc --enable simd -O3 --runtime stub).
//
// Layout: activations live in NHWC with the channel count padded to a multiple of 8
// ("Cp"); padded channels hold zeros and stay zero because their weights and biases are
// zero. Every pointer is a byte offset into the exported memory; the host owns allocation
// (everything from heapBase() up).
//
// Every kernel ends with a clamp to [lo, hi]: (-inf, inf) is no activation, (0, inf) is
// ReLU, (0, 6) is ReLU6. The clamp uses pmin/pmax (one instruction each on x64), ordered so
// that a NaN passes through as PyTorch's ReLU lets it.

/** The first byte the host may use. */
export function heapBase(): usize {
  return __heap_base;
}

@inline function clamp(x: v128, lo: v128, hi: v128): v128 {
  // pmax(x, lo) = x < lo ? lo : x, keeps NaN; pmin(x, hi) = hi < x ? hi : x, keeps NaN.
  return f32x4.pmin(f32x4.pmax(x, lo), hi);
}

@inline function madd(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

// ---------------------------------------------------------------------------------------------
// GEMM: C[i][j] = clamp(bias[j] + sum_k A[i][k] * B[k][j]) for i < m, j < n (n % 8 == 0).
// A is row-major with a row stride of lda floats (a pixel's channels in NHWC).
// B is packed by the host in panels of 8 columns: panel p holds B[k][8p .. 8p+7] for k = 0..K-1,
// so the micro-kernel reads it sequentially. C has a row stride of ldc floats.
// The micro-kernel computes 4 rows x 8 columns in 8 v128 accumulators (plus 2 for B and 1 for
// the broadcast A value: 11 of the 16 xmm registers V8 allocates from).

/**
 * Bytes of A per cache block: the block of A stays in L2 while each panel of B (k * 32 bytes)
 * is read from L1 by every row tile of the block, so B is read from memory once per block.
 */
let blockBytes: i32 = 256 * 1024;

/** Tuning knob for the benchmark: bytes of A per cache block. */
export function setBlockBytes(bytes: i32): void {
  blockBytes = bytes;
}

@inline function rowBlock(k: i32): i32 {
  const rows = (blockBytes / (k << 2)) & ~3;
  return rows < 16 ? 16 : rows;
}

export function gemm(a: usize, lda: i32, bp: usize, bias: usize, c: usize, ldc: i32, m: i32, n: i32, k: i32, lo: f32, hi: f32): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const aStride = <usize>lda << 2;
  const cStride = <usize>ldc << 2;
  const panelBytes = <usize>k << 5;
  const kBytes = <usize>k << 2;
  const panels = n >> 3;
  const block = rowBlock(k);
  for (let m0 = 0; m0 < m; m0 += block) {
    const m1 = min(m0 + block, m);
    for (let p = 0; p < panels; p++) {
      const b = bp + <usize>p * panelBytes;
      const bias0 = v128.load(bias + (<usize>p << 5));
      const bias1 = v128.load(bias + (<usize>p << 5), 16);
      for (let i = m0; i < m1; i += 4) {
        // Rows past the end alias the last row: the same values are written twice, harmlessly.
        const a0 = a + <usize>i * aStride;
        const a1 = i + 1 < m1 ? a0 + aStride : a0;
        const a2 = i + 2 < m1 ? a1 + aStride : a1;
        const a3 = i + 3 < m1 ? a2 + aStride : a2;
        const c0 = c + <usize>i * cStride + (<usize>p << 5);
        const c1 = i + 1 < m1 ? c0 + cStride : c0;
        const c2 = i + 2 < m1 ? c1 + cStride : c1;
        const c3 = i + 3 < m1 ? c2 + cStride : c2;
        let r00 = bias0, r01 = bias1, r10 = bias0, r11 = bias1;
        let r20 = bias0, r21 = bias1, r30 = bias0, r31 = bias1;
        let pb = b;
        let off: usize = 0;
        let w0: v128, w1: v128, x: v128;
        // Four steps of k per iteration with immediate offsets: one address add per row per
        // four steps keeps the loop within the core's issue width.
        for (; off + 16 <= kBytes; off += 16) {
          const q0 = a0 + off, q1 = a1 + off, q2 = a2 + off, q3 = a3 + off;
          w0 = v128.load(pb, 0);
          w1 = v128.load(pb, 16);
          x = v128.load32_splat(q0, 0);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(q1, 0);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(q2, 0);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(q3, 0);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          w0 = v128.load(pb, 32);
          w1 = v128.load(pb, 48);
          x = v128.load32_splat(q0, 4);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(q1, 4);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(q2, 4);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(q3, 4);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          w0 = v128.load(pb, 64);
          w1 = v128.load(pb, 80);
          x = v128.load32_splat(q0, 8);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(q1, 8);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(q2, 8);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(q3, 8);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          w0 = v128.load(pb, 96);
          w1 = v128.load(pb, 112);
          x = v128.load32_splat(q0, 12);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(q1, 12);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(q2, 12);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(q3, 12);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          pb += 128;
        }
        for (; off < kBytes; off += 4) {
          const q0 = a0 + off, q1 = a1 + off, q2 = a2 + off, q3 = a3 + off;
          w0 = v128.load(pb, 0);
          w1 = v128.load(pb, 16);
          x = v128.load32_splat(q0, 0);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(q1, 0);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(q2, 0);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(q3, 0);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          pb += 32;
        }
        v128.store(c3, clamp(r30, vlo, vhi));
        v128.store(c3, clamp(r31, vlo, vhi), 16);
        v128.store(c2, clamp(r20, vlo, vhi));
        v128.store(c2, clamp(r21, vlo, vhi), 16);
        v128.store(c1, clamp(r10, vlo, vhi));
        v128.store(c1, clamp(r11, vlo, vhi), 16);
        v128.store(c0, clamp(r00, vlo, vhi));
        v128.store(c0, clamp(r01, vlo, vhi), 16);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Depthwise convolution (groups = channels, multiplier 1), NHWC, any kernel size, stride,
// dilation and zero padding. Weights packed as [kh * kw][Cp], bias [Cp].

export function depthwise(
  inp: usize, h: i32, w: i32, cp: i32, wt: usize, bias: usize, out: usize, oh: i32, ow: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const cBytes = <usize>cp << 2;
  const rowBytes = <usize>w * cBytes;
  // Output columns whose taps all fall inside the input: [oxLo, oxHi).
  let oxLo = (pl + sw - 1) / sw;
  let oxHi = (w - 1 - (kw - 1) * dw + pl) / sw + 1;
  if (w - 1 - (kw - 1) * dw + pl < 0) oxHi = 0;
  if (oxHi > ow) oxHi = ow;
  if (oxLo > oxHi) oxLo = oxHi;
  const fast3x3 = kh == 3 && kw == 3;
  for (let oy = 0; oy < oh; oy++) {
    const iy0 = oy * sh - pt;
    const rowInside = iy0 >= 0 && iy0 + (kh - 1) * dh < h;
    let dst = out + <usize>oy * <usize>ow * cBytes;
    for (let ox = 0; ox < ow; ox++) {
      const ix0 = ox * sw - pl;
      if (rowInside && fast3x3 && ox >= oxLo && ox < oxHi) {
        const r0 = inp + <usize>iy0 * rowBytes + <usize>ix0 * cBytes;
        const r1 = r0 + <usize>dh * rowBytes;
        const r2 = r1 + <usize>dh * rowBytes;
        const dx = <usize>dw * cBytes;
        const dx2 = dx + dx;
        for (let cc: usize = 0; cc < cBytes; cc += 32) {
          const w0 = wt + cc;
          let acc0 = v128.load(bias + cc);
          let acc1 = v128.load(bias + cc, 16);
          let s = r0 + cc;
          let q = w0;
          acc0 = madd(acc0, v128.load(s), v128.load(q));
          acc1 = madd(acc1, v128.load(s, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx2), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx2, 16), v128.load(q, 16));
          q += cBytes;
          s = r1 + cc;
          acc0 = madd(acc0, v128.load(s), v128.load(q));
          acc1 = madd(acc1, v128.load(s, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx2), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx2, 16), v128.load(q, 16));
          q += cBytes;
          s = r2 + cc;
          acc0 = madd(acc0, v128.load(s), v128.load(q));
          acc1 = madd(acc1, v128.load(s, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx, 16), v128.load(q, 16));
          q += cBytes;
          acc0 = madd(acc0, v128.load(s + dx2), v128.load(q));
          acc1 = madd(acc1, v128.load(s + dx2, 16), v128.load(q, 16));
          v128.store(dst + cc, clamp(acc0, vlo, vhi));
          v128.store(dst + cc, clamp(acc1, vlo, vhi), 16);
        }
      } else {
        // General path: bias, then every tap that lands inside the input.
        for (let cc: usize = 0; cc < cBytes; cc += 16) v128.store(dst + cc, v128.load(bias + cc));
        for (let ky = 0; ky < kh; ky++) {
          const iy = iy0 + ky * dh;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ix0 + kx * dw;
            if (ix < 0 || ix >= w) continue;
            const src = inp + <usize>iy * rowBytes + <usize>ix * cBytes;
            const wk = wt + <usize>(ky * kw + kx) * cBytes;
            for (let cc: usize = 0; cc < cBytes; cc += 16) {
              v128.store(dst + cc, madd(v128.load(dst + cc), v128.load(src + cc), v128.load(wk + cc)));
            }
          }
        }
        for (let cc: usize = 0; cc < cBytes; cc += 16) v128.store(dst + cc, clamp(v128.load(dst + cc), vlo, vhi));
      }
      dst += cBytes;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// im2col for a standard convolution (groups = 1): row (oy, ox) of the output matrix holds
// the kh * kw * cin taps of that output pixel in (ky, kx, ci) order, zeros outside the input.
// The input is NHWC with cp >= cin channels per pixel; only the cin real ones are copied.

export function im2col(
  inp: usize, h: i32, w: i32, cp: i32, cin: i32, out: usize, oh: i32, ow: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32,
): void {
  let dst = out;
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - pt + ky * dh;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw - pl + kx * dw;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
            memory.fill(dst, 0, <usize>cin << 2);
          } else {
            memory.copy(dst, inp + ((<usize>iy * <usize>w + <usize>ix) * <usize>cp << 2), <usize>cin << 2);
          }
          dst += <usize>cin << 2;
        }
      }
    }
  }
}

/** Every output pixel of a strided 1x1 convolution gathers its input pixel (cp floats) into a dense matrix. */
export function subsample(inp: usize, w: i32, cp: i32, out: usize, oh: i32, ow: i32, sh: i32, sw: i32): void {
  const cBytes = <usize>cp << 2;
  let dst = out;
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      memory.copy(dst, inp + (<usize>(oy * sh) * <usize>w + <usize>(ox * sw)) * cBytes, cBytes);
      dst += cBytes;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layout conversions at the edges: NCHW (c channels) <-> NHWC (cp >= c channels, zero padded).

export function nchwToNhwc(src: usize, dst: usize, c: i32, hw: i32, cp: i32): void {
  const cBytes = <usize>cp << 2;
  for (let p = 0; p < hw; p++) {
    const d = dst + <usize>p * cBytes;
    for (let ch = 0; ch < c; ch++) store<f32>(d + (<usize>ch << 2), load<f32>(src + ((<usize>ch * <usize>hw + <usize>p) << 2)));
    for (let ch = c; ch < cp; ch++) store<f32>(d + (<usize>ch << 2), 0);
  }
}

export function nhwcToNchw(src: usize, dst: usize, c: i32, hw: i32, cp: i32): void {
  for (let ch = 0; ch < c; ch++) {
    const d = dst + ((<usize>ch * <usize>hw) << 2);
    let s = src + (<usize>ch << 2);
    const step = <usize>cp << 2;
    for (let p = 0; p < hw; p++) {
      store<f32>(d + (<usize>p << 2), load<f32>(s));
      s += step;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small elementwise kernels.

/** out[p][c] = clamp(x[p][c] * scale[c] + shift[c]): a BatchNorm that could not be folded, or an activation alone. */
export function scaleShift(inp: usize, out: usize, pixels: i32, cp: i32, scale: usize, shift: usize, lo: f32, hi: f32): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const cBytes = <usize>cp << 2;
  for (let p = 0; p < pixels; p++) {
    const s = inp + <usize>p * cBytes;
    const d = out + <usize>p * cBytes;
    for (let cc: usize = 0; cc < cBytes; cc += 16) {
      v128.store(d + cc, clamp(madd(v128.load(shift + cc), v128.load(s + cc), v128.load(scale + cc)), vlo, vhi));
    }
  }
}

/** out = a + b over n floats (n % 4 == 0): the residual add. */
export function add(a: usize, b: usize, out: usize, n: i32): void {
  const bytes = <usize>n << 2;
  for (let i: usize = 0; i < bytes; i += 16) v128.store(out + i, f32x4.add(v128.load(a + i), v128.load(b + i)));
}

/** Global average pool: out[c] = mean over the pixels of x[p][c]. */
export function meanPool(inp: usize, pixels: i32, cp: i32, out: usize): void {
  const cBytes = <usize>cp << 2;
  const count = f32x4.splat(<f32>pixels);
  for (let cc: usize = 0; cc < cBytes; cc += 16) {
    let acc = f32x4.splat(0);
    let s = inp + cc;
    for (let p = 0; p < pixels; p++) {
      acc = f32x4.add(acc, v128.load(s));
      s += cBytes;
    }
    v128.store(out + cc, f32x4.div(acc, count));
  }
}
