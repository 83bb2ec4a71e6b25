// The hot CPU kernels, in AssemblyScript with WebAssembly SIMD (128-bit: 4 float32 lanes).
// Built by src/engine/cpu/wasm/buildKernels.mjs (asc --enable simd -O3 --runtime stub); this
// folder is AssemblyScript, not TypeScript, and is left out of the project's tsc run.
//
// Layout: NCHW planes, as the CpuKernels interface hands them over. Every pointer is a byte
// offset into the exported memory; the host (wasmKernels.ts) owns allocation, from heapBase() up.
//
// Every kernel ends with a clamp to [lo, hi]: (-inf, inf) is no activation, (0, inf) is ReLU,
// (0, 6) is ReLU6. It uses pmax/pmin (one instruction each on x64), ordered so that a NaN
// passes through as it does through PyTorch's ReLU.

/** The first byte the host may use. */
export function heapBase(): usize {
  return __heap_base;
}

@inline function clamp(x: v128, lo: v128, hi: v128): v128 {
  // pmax(x, lo) = x < lo ? lo : x and pmin(x, hi) = hi < x ? hi : x both keep a NaN x.
  return f32x4.pmin(f32x4.pmax(x, lo), hi);
}

@inline function madd(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

// ---------------------------------------------------------------------------------------------
// GEMM: C[i][j] = clamp(bias[i] + sum_k A[i][k] * B[k][j]) for i < m, j < n.
// A: the weights ([Cout][Cin...], m x k), packed once by packRows in tiles of 4 rows.
// B: packed by packPanels/im2colPanels in panels of 8 columns: panel p holds B[k][8p .. 8p+7]
//    for k = 0..K-1 (zeros past n), so the micro-kernel reads it sequentially. When n % 8 is
//    1..4 the last panel is 4 columns wide (a 7x7 map has 49 pixels: 52 columns computed
//    instead of 56), read by a 4 x 4 micro-kernel.
// C: row stride ldc floats (one output channel's plane per row).
// The micro-kernel computes 4 rows x 8 columns in 8 v128 accumulators, plus 2 registers for B
// and 1 for the broadcast A value: 11 of the 16 xmm registers V8 allocates from.

/**
 * Bytes of packed A per cache block. The block stays in L1/L2 while each panel of B
 * (k * 32 bytes) is reused by every row tile of the block. On this machine's AMD EPYC any size
 * from 32 KiB to 512 KiB measured the same within noise; 1 MiB was slower.
 */
let blockBytes: i32 = 64 * 1024;

/** Tuning knob for benchmarks: bytes of A per cache block. */
export function setBlockBytes(bytes: i32): void {
  blockBytes = bytes;
}

@inline function rowBlock(k: i32): i32 {
  const rows = (blockBytes / (k << 2)) & ~3;
  return rows < 16 ? 16 : rows;
}

/** Bytes of packed A for an m x k matrix (see packRows). */
export function packedRowsBytes(m: i32, k: i32): i32 {
  return ((m + 3) >> 2) * (k << 4);
}

/**
 * Packs a row-major m x k matrix as tiles of 4 rows, [tile][k][4] (a 4x4 transpose per 4
 * steps of k), so that the micro-kernel reads A through one pointer with immediate offsets.
 * Rows past m repeat the last row; their results are never stored.
 */
export function packRows(a: usize, m: i32, k: i32, dst: usize): void {
  const aStride = <usize>k << 2;
  const kBytes = <usize>k << 2;
  let d = dst;
  for (let i = 0; i < m; i += 4) {
    const a0 = a + <usize>i * aStride;
    const a1 = i + 1 < m ? a0 + aStride : a0;
    const a2 = i + 2 < m ? a1 + aStride : a1;
    const a3 = i + 3 < m ? a2 + aStride : a2;
    let off: usize = 0;
    for (; off + 16 <= kBytes; off += 16) {
      const x0 = v128.load(a0 + off), x1 = v128.load(a1 + off), x2 = v128.load(a2 + off), x3 = v128.load(a3 + off);
      const t0 = v128.shuffle<i32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<i32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<i32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<i32>(x2, x3, 2, 6, 3, 7);
      v128.store(d, v128.shuffle<i64>(t0, t1, 0, 2));
      v128.store(d, v128.shuffle<i64>(t0, t1, 1, 3), 16);
      v128.store(d, v128.shuffle<i64>(t2, t3, 0, 2), 32);
      v128.store(d, v128.shuffle<i64>(t2, t3, 1, 3), 48);
      d += 64;
    }
    for (; off < kBytes; off += 4) {
      store<f32>(d, load<f32>(a0 + off));
      store<f32>(d, load<f32>(a1 + off), 4);
      store<f32>(d, load<f32>(a2 + off), 8);
      store<f32>(d, load<f32>(a3 + off), 12);
      d += 16;
    }
  }
}

/** Whether the last panel of an n-column B is 4 columns wide (see packPanels). */
@inline function narrowTail(n: i32): bool {
  const rest = n & 7;
  return rest != 0 && rest <= 4;
}

export function gemm(ap: usize, bp: usize, bias: usize, c: usize, ldc: i32, m: i32, n: i32, k: i32, lo: f32, hi: f32, tile: usize): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const cStride = <usize>ldc << 2;
  const panelBytes = <usize>k << 5;
  const kBytes = <usize>k << 2;
  const panels = (n + 7) >> 3;
  const narrow = narrowTail(n);
  const block = rowBlock(k);
  // Blocks of rows of A, each reused by every panel of B while it stays in cache.
  for (let m0 = 0; m0 < m; m0 += block) {
    const m1 = min(m0 + block, m);
    const blockStart = ap + (<usize>(m0 >> 2) * kBytes << 2);
    for (let p = 0; p < panels; p++) {
      const b = bp + <usize>p * panelBytes;
      const columns = min(8, n - (p << 3));
      if (narrow && p == panels - 1) {
        gemmNarrowPanel(blockStart, b, bias, c + (<usize>p << 5), cStride, m0, m1, kBytes, columns, vlo, vhi, tile);
        continue;
      }
      let pa = blockStart;
      for (let i = m0; i < m1; i += 4) {
        const rows = min(4, m1 - i);
        const bi = bias + (<usize>i << 2);
        const bias0 = v128.load32_splat(bi);
        const bias1 = rows > 1 ? v128.load32_splat(bi, 4) : bias0;
        const bias2 = rows > 2 ? v128.load32_splat(bi, 8) : bias0;
        const bias3 = rows > 3 ? v128.load32_splat(bi, 12) : bias0;
        let r00 = bias0, r01 = bias0, r10 = bias1, r11 = bias1;
        let r20 = bias2, r21 = bias2, r30 = bias3, r31 = bias3;
        let pb = b;
        const end = pa + (kBytes << 2);
        while (pa < end) {
          const w0 = v128.load(pb);
          const w1 = v128.load(pb, 16);
          let x = v128.load32_splat(pa);
          r00 = madd(r00, x, w0);
          r01 = madd(r01, x, w1);
          x = v128.load32_splat(pa, 4);
          r10 = madd(r10, x, w0);
          r11 = madd(r11, x, w1);
          x = v128.load32_splat(pa, 8);
          r20 = madd(r20, x, w0);
          r21 = madd(r21, x, w1);
          x = v128.load32_splat(pa, 12);
          r30 = madd(r30, x, w0);
          r31 = madd(r31, x, w1);
          pb += 32;
          pa += 16;
        }
        const c0 = c + <usize>i * cStride + (<usize>p << 5);
        if (columns == 8 && rows == 4) {
          v128.store(c0, clamp(r00, vlo, vhi));
          v128.store(c0, clamp(r01, vlo, vhi), 16);
          v128.store(c0 + cStride, clamp(r10, vlo, vhi));
          v128.store(c0 + cStride, clamp(r11, vlo, vhi), 16);
          v128.store(c0 + 2 * cStride, clamp(r20, vlo, vhi));
          v128.store(c0 + 2 * cStride, clamp(r21, vlo, vhi), 16);
          v128.store(c0 + 3 * cStride, clamp(r30, vlo, vhi));
          v128.store(c0 + 3 * cStride, clamp(r31, vlo, vhi), 16);
        } else {
          // A partial tile: through the scratch tile, then only the valid part.
          v128.store(tile, clamp(r00, vlo, vhi));
          v128.store(tile, clamp(r01, vlo, vhi), 16);
          v128.store(tile, clamp(r10, vlo, vhi), 32);
          v128.store(tile, clamp(r11, vlo, vhi), 48);
          v128.store(tile, clamp(r20, vlo, vhi), 64);
          v128.store(tile, clamp(r21, vlo, vhi), 80);
          v128.store(tile, clamp(r30, vlo, vhi), 96);
          v128.store(tile, clamp(r31, vlo, vhi), 112);
          for (let r = 0; r < rows; r++) memory.copy(c0 + <usize>r * cStride, tile + (<usize>r << 5), <usize>columns << 2);
        }
      }
    }
  }
}

/** Rows [m0, m1) of C for one 4-column panel of B (at most 4 valid columns): 4 x 4 tiles. */
function gemmNarrowPanel(blockStart: usize, b: usize, bias: usize, c: usize, cStride: usize, m0: i32, m1: i32, kBytes: usize, columns: i32, vlo: v128, vhi: v128, tile: usize): void {
  let pa = blockStart;
  for (let i = m0; i < m1; i += 4) {
    const rows = min(4, m1 - i);
    const bi = bias + (<usize>i << 2);
    let r0 = v128.load32_splat(bi);
    let r1 = rows > 1 ? v128.load32_splat(bi, 4) : r0;
    let r2 = rows > 2 ? v128.load32_splat(bi, 8) : r0;
    let r3 = rows > 3 ? v128.load32_splat(bi, 12) : r0;
    let pb = b;
    const end = pa + (kBytes << 2);
    while (pa < end) {
      const w = v128.load(pb);
      r0 = madd(r0, v128.load32_splat(pa), w);
      r1 = madd(r1, v128.load32_splat(pa, 4), w);
      r2 = madd(r2, v128.load32_splat(pa, 8), w);
      r3 = madd(r3, v128.load32_splat(pa, 12), w);
      pb += 16;
      pa += 16;
    }
    v128.store(tile, clamp(r0, vlo, vhi));
    v128.store(tile, clamp(r1, vlo, vhi), 16);
    v128.store(tile, clamp(r2, vlo, vhi), 32);
    v128.store(tile, clamp(r3, vlo, vhi), 48);
    const c0 = c + <usize>i * cStride;
    for (let r = 0; r < rows; r++) memory.copy(c0 + <usize>r * cStride, tile + (<usize>r << 4), <usize>columns << 2);
  }
}

/**
 * Matrix times vector, for a single pixel (a Linear layer, a pointwise conv on a 1x1 image):
 * out[i] = clamp(bias[i] + sum_k A[i][k] * x[k]) with A row-major m x k. Streams A once, two
 * rows at a time with two partial sums each, so no packing is needed.
 */
export function gemv(a: usize, x: usize, bias: usize, out: usize, m: i32, k: i32, lo: f32, hi: f32): void {
  const kBytes = <usize>k << 2;
  const vectorBytes = kBytes & ~(<usize>31);
  for (let i = 0; i < m; i++) {
    const row = a + <usize>i * kBytes;
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let off: usize = 0;
    for (; off < vectorBytes; off += 32) {
      s0 = madd(s0, v128.load(row + off), v128.load(x + off));
      s1 = madd(s1, v128.load(row + off, 16), v128.load(x + off, 16));
    }
    const s = f32x4.add(s0, s1);
    let sum = load<f32>(bias + (<usize>i << 2)) + ((f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3)));
    for (; off < kBytes; off += 4) sum += load<f32>(row + off) * load<f32>(x + off);
    // max/min in this order keep a NaN, as clamp() does.
    sum = sum < lo ? lo : sum;
    sum = hi < sum ? hi : sum;
    store<f32>(out + (<usize>i << 2), sum);
  }
}

/** Packs a row-major k x n matrix (row stride ld floats) into gemm's panels of 8 columns (the last one maybe 4), zero filled. */
export function packPanels(src: usize, ld: i32, k: i32, n: i32, dst: usize): void {
  const rowBytes = <usize>ld << 2;
  let d = dst;
  for (let j = 0; j < n; j += 8) {
    const columns = min(8, n - j);
    let s = src + (<usize>j << 2);
    if (columns <= 4 && narrowTail(n)) {
      for (let r = 0; r < k; r++) {
        v128.store(d, f32x4.splat(0));
        memory.copy(d, s, <usize>columns << 2);
        s += rowBytes;
        d += 16;
      }
    } else if (columns == 8) {
      for (let r = 0; r < k; r++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        s += rowBytes;
        d += 32;
      }
    } else {
      for (let r = 0; r < k; r++) {
        v128.store(d, f32x4.splat(0));
        v128.store(d, f32x4.splat(0), 16);
        memory.copy(d, s, <usize>columns << 2);
        s += rowBytes;
        d += 32;
      }
    }
  }
}

/**
 * im2col straight into gemm's panels for output pixels [p0, p1) of one group: row
 * (c, ky, kx) of column (oy, ox) is input[c][oy * sh - pt + ky * dh][ox * sw - pl + kx * dw],
 * zero outside the input. The input pointer is the group's first channel plane.
 */
export function im2colPanels(
  inp: usize, cin: i32, h: i32, w: i32, ow: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, p0: i32, p1: i32, dst: usize,
): void {
  const plane = (<usize>h * <usize>w) << 2;
  const rows = cin * kh * kw;
  const narrow = narrowTail(p1 - p0);
  let panel = dst;
  for (let j = p0; j < p1; j += 8) {
    // The last panel may be 4 columns wide (see packPanels).
    const lanes = narrow && p1 - j <= 4 ? 4 : 8;
    const step = <usize>lanes << 2;
    const oy = j / ow;
    const ox = j - oy * ow;
    if (lanes == 8 && j + 8 <= p1 && ox + 8 <= ow && (sw == 1 || sw == 2)) {
      // Eight pixels of one output row: each panel row is 8 input values at a stride of sw.
      im2colRowPanel(inp, plane, cin, h, w, kh, kw, sw, dh, dw, oy * sh - pt, ox * sw - pl, panel);
      panel += <usize>rows << 5;
      continue;
    }
    // One pixel (one lane of the panel) at a time: its row and column are worked out once, and
    // its values go down the panel with a stride of one panel row.
    for (let q = 0; q < lanes; q++) {
      const pixel = j + q;
      let d = panel + (<usize>q << 2);
      if (pixel >= p1) {
        for (let r = 0; r < rows; r++) {
          store<f32>(d, 0);
          d += step;
        }
        continue;
      }
      const oy = pixel / ow;
      const iy0 = oy * sh - pt;
      const ix0 = (pixel - oy * ow) * sw - pl;
      for (let c = 0; c < cin; c++) {
        const src = inp + <usize>c * plane;
        for (let ky = 0; ky < kh; ky++) {
          const iy = iy0 + ky * dh;
          const rowInside = iy >= 0 && iy < h;
          const row = src + ((<usize>iy * <usize>w) << 2);
          for (let kx = 0; kx < kw; kx++) {
            const ix = ix0 + kx * dw;
            let value: f32 = 0;
            if (rowInside && ix >= 0 && ix < w) value = load<f32>(row + (<usize>ix << 2));
            store<f32>(d, value);
            d += step;
          }
        }
      }
    }
    panel += <usize>rows * step;
  }
}

/**
 * One full panel of im2col for 8 pixels of one output row (stride 1 or 2 along x), input rows
 * from iy0 and columns from ix0: where the 8 taps of a row lie inside the input they are two
 * loads (stride 1) or four loads and two shuffles (stride 2); at the borders, lane by lane.
 */
function im2colRowPanel(inp: usize, plane: usize, cin: i32, h: i32, w: i32, kh: i32, kw: i32, sw: i32, dh: i32, dw: i32, iy0: i32, ix0: i32, panel: usize): void {
  // Last input column the vector loads touch: 7 taps apart by sw (stride 2 loads 16 columns).
  const span = sw == 1 ? 7 : 15;
  let d = panel;
  for (let c = 0; c < cin; c++) {
    const src = inp + <usize>c * plane;
    for (let ky = 0; ky < kh; ky++) {
      const iy = iy0 + ky * dh;
      if (iy < 0 || iy >= h) {
        for (let kx = 0; kx < kw; kx++) {
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          d += 32;
        }
        continue;
      }
      const row = src + ((<usize>iy * <usize>w) << 2);
      for (let kx = 0; kx < kw; kx++) {
        const ix = ix0 + kx * dw;
        if (ix >= 0 && ix + span < w) {
          const s = row + (<usize>ix << 2);
          if (sw == 1) {
            v128.store(d, v128.load(s));
            v128.store(d, v128.load(s, 16), 16);
          } else {
            v128.store(d, evens(v128.load(s), v128.load(s, 16)));
            v128.store(d, evens(v128.load(s, 32), v128.load(s, 48)), 16);
          }
        } else {
          for (let q = 0; q < 8; q++) {
            const x = ix + q * sw;
            store<f32>(d + (<usize>q << 2), x >= 0 && x < w ? load<f32>(row + (<usize>x << 2)) : 0);
          }
        }
        d += 32;
      }
    }
  }
}

/**
 * One chunk of a pointwise conv on a thread: packs columns [0, n) of a row-major k x n B (row
 * stride ld floats) into panels, then C = A x B for them, in one call (no barrier between the two).
 */
export function packGemm(src: usize, ld: i32, k: i32, n: i32, panels: usize, ap: usize, bias: usize, c: usize, ldc: i32, m: i32, lo: f32, hi: f32, tile: usize): void {
  packPanels(src, ld, k, n, panels);
  gemm(ap, panels, bias, c, ldc, m, n, k, lo, hi, tile);
}

/** One chunk of a general conv on a thread: im2col of output pixels [p0, p1) into panels, then their columns of C (c points at pixel p0). */
export function im2colGemm(
  inp: usize, cin: i32, h: i32, w: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, p0: i32, p1: i32,
  panels: usize, ap: usize, bias: usize, c: usize, ldc: i32, m: i32, lo: f32, hi: f32, tile: usize,
): void {
  im2colPanels(inp, cin, h, w, ow, kh, kw, sh, sw, dh, dw, pt, pl, p0, p1, panels);
  gemm(ap, panels, bias, c, ldc, m, p1 - p0, cin * kh * kw, lo, hi, tile);
}

// ---------------------------------------------------------------------------------------------
// Depthwise convolution, NCHW, 4 output columns per v128. Each input plane is first copied
// into a zero-bordered plane (scratch) large enough that every tap of every output column,
// including the up-to-3 extra columns of the last vector of a row, lands inside it: the inner
// loops test no bounds. Output rows are written as whole vectors: the extra lanes of a row's
// last vector land on the next row's start, which is written after. The last row of each plane
// stores only its own lanes, so a call writes nothing past its planes: threads that each run a
// range of channels never write into each other's output.

/** Floats of padded plane the depthwise kernel needs. */
export function depthwiseScratchFloats(h: i32, w: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32): i32 {
  return paddedHeight(h, oh, kh, sh, dh, pt) * paddedWidth(w, ow, kw, sw, dw, pl);
}

// Rows of the padded plane: the input's rows after the top padding, or what the last output row reads.
@inline function paddedHeight(h: i32, oh: i32, kh: i32, sh: i32, dh: i32, pt: i32): i32 {
  return max(h + pt, (oh - 1) * sh + (kh - 1) * dh + 1);
}

// Columns of the padded plane: what the output row, rounded up to whole vectors of four, reads,
// plus 8 floats of slack for the vector loads past its end.
@inline function paddedWidth(w: i32, ow: i32, kw: i32, sw: i32, dw: i32, pl: i32): i32 {
  return max(w + pl, ((ow + 3) & ~3) * sw + (kw - 1) * dw + 8);
}

// Rows are short (7 to 112 floats in MobileNet) and copied once per channel: an inline loop
// costs less than memory.copy, which V8 compiles to a call out of the module.
@inline function copyRow(dst: usize, src: usize, bytes: usize): void {
  const vectorBytes = bytes & ~(<usize>15);
  let off: usize = 0;
  for (; off < vectorBytes; off += 16) v128.store(dst + off, v128.load(src + off));
  for (; off < bytes; off += 4) store<f32>(dst + off, load<f32>(src + off));
}

export function depthwise(
  inp: usize, channels: i32, multiplier: i32, h: i32, w: i32, wt: usize, bias: usize, out: usize, oh: i32, ow: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, pt: i32, pl: i32, lo: f32, hi: f32, scratch: usize,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const ph = paddedHeight(h, oh, kh, sh, dh, pt);
  const pw = paddedWidth(w, ow, kw, sw, dw, pl);
  const pwBytes = <usize>pw << 2;
  const inPlane = (<usize>h * <usize>w) << 2;
  const outPlane = (<usize>oh * <usize>ow) << 2;
  const taps = kh * kw;
  // Borders of the padded plane stay zero from one channel to the next: only the interior is
  // rewritten. Only the borders are cleared here (a call may be one small chunk of channels).
  const interiorTop = scratch + <usize>pt * pwBytes;
  const interiorBottom = scratch + <usize>(pt + h) * pwBytes;
  const rightBytes = pwBytes - ((<usize>(pl + w)) << 2);
  memory.fill(scratch, 0, <usize>pt * pwBytes);
  memory.fill(interiorBottom, 0, <usize>(ph - pt - h) * pwBytes);
  for (let row = interiorTop; row < interiorBottom; row += pwBytes) {
    for (let x: i32 = 0; x < pl; x++) store<f32>(row + (<usize>x << 2), 0);
    memory.fill(row + ((<usize>(pl + w)) << 2), 0, rightBytes);
  }
  for (let ci = 0; ci < channels; ci++) {
    const src = inp + <usize>ci * inPlane;
    for (let y = 0; y < h; y++) copyRow(scratch + <usize>(y + pt) * pwBytes + (<usize>pl << 2), src + ((<usize>y * <usize>w) << 2), <usize>w << 2);
    for (let j = 0; j < multiplier; j++) {
      const o = ci * multiplier + j;
      const dst = out + <usize>o * outPlane;
      const wo = wt + (<usize>(o * taps) << 2);
      const b = v128.load32_splat(bias + (<usize>o << 2));
      if (kh == 3 && kw == 3 && sw == 1 && dw == 1) depthwise3x3(1, scratch, pwBytes, wo, b, dst, oh, ow, sh, dh, vlo, vhi);
      else if (kh == 3 && kw == 3 && sw == 2 && dw == 1) depthwise3x3(2, scratch, pwBytes, wo, b, dst, oh, ow, sh, dh, vlo, vhi);
      else depthwiseGeneral(scratch, pwBytes, wo, b, dst, oh, ow, kh, kw, sh, sw, dh, dw, vlo, vhi);
    }
  }
}

// Even and odd lanes of 8 consecutive floats: input columns 2x and 2x+1 for four outputs.
@inline function evens(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 0, 2, 4, 6);
}
@inline function odds(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 1, 3, 5, 7);
}

// One kernel row of a 3x3 for four outputs. Stride 1 along x: columns x, x+1 and x+2 are three
// loads. Stride 2: columns 2x, 2x+1 and 2x+2 come from three loads and three shuffles.
// `xStride` is a literal at every call: once inlined, only one of the two paths is left.
@inline function kernelRow3(xStride: i32, acc: v128, row: usize, wa: v128, wb: v128, wc: v128): v128 {
  if (xStride == 1) {
    acc = madd(acc, v128.load(row), wa);
    acc = madd(acc, v128.load(row, 4), wb);
    return madd(acc, v128.load(row, 8), wc);
  }
  const lo4 = v128.load(row), hi4 = v128.load(row, 16), next = v128.load(row, 32);
  const even = evens(lo4, hi4);
  acc = madd(acc, even, wa);
  acc = madd(acc, odds(lo4, hi4), wb);
  return madd(acc, v128.shuffle<f32>(even, next, 1, 2, 3, 4), wc);
}

// The nine taps of a 3x3 for four outputs, from the top kernel row at `r`.
@inline function taps3x3(xStride: i32, b: v128, r: usize, rowStep: usize, w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128): v128 {
  const m = r + rowStep;
  const l = m + rowStep;
  let acc = kernelRow3(xStride, b, r, w0, w1, w2);
  acc = kernelRow3(xStride, acc, m, w3, w4, w5);
  return kernelRow3(xStride, acc, l, w6, w7, w8);
}

// Where whole-vector stores of a row stop: the row's end, except on a plane's last row, where
// they stop before a vector that would run past the plane (its remaining lanes: storeLanes).
@inline function lastRowEnd(rowEnd: usize, oy: i32, oh: i32): usize {
  return oy == oh - 1 ? rowEnd - 12 : rowEnd;
}

// The first bytes/4 lanes (1 to 3) of v.
@inline function storeLanes(d: usize, v: v128, bytes: usize): void {
  store<f32>(d, f32x4.extract_lane(v, 0));
  if (bytes > 4) store<f32>(d, f32x4.extract_lane(v, 1), 4);
  if (bytes > 8) store<f32>(d, f32x4.extract_lane(v, 2), 8);
}

// 3x3, stride 1 or 2 along x (`xStride`, a literal at each call), no dilation along x: the nine
// weights stay in registers; four outputs per step.
@inline function depthwise3x3(xStride: i32, pad: usize, pwBytes: usize, wo: usize, b: v128, dst: usize, oh: i32, ow: i32, sh: i32, dh: i32, vlo: v128, vhi: v128): void {
  const w0 = v128.load32_splat(wo), w1 = v128.load32_splat(wo, 4), w2 = v128.load32_splat(wo, 8);
  const w3 = v128.load32_splat(wo, 12), w4 = v128.load32_splat(wo, 16), w5 = v128.load32_splat(wo, 20);
  const w6 = v128.load32_splat(wo, 24), w7 = v128.load32_splat(wo, 28), w8 = v128.load32_splat(wo, 32);
  const rowStep = <usize>dh * pwBytes;
  // Input bytes four outputs advance by: four floats per unit of stride.
  const inputStep = <usize>xStride << 4;
  let d = dst;
  for (let oy = 0; oy < oh; oy++) {
    // One pointer into the top kernel row: the other two are fixed offsets from it (rowStep),
    // so each load is the pointer plus constants, with no address arithmetic of its own.
    let r = pad + <usize>(oy * sh) * pwBytes;
    const rowEnd = d + (<usize>ow << 2);
    const vectorEnd = lastRowEnd(rowEnd, oy, oh);
    while (d < vectorEnd) {
      v128.store(d, clamp(taps3x3(xStride, b, r, rowStep, w0, w1, w2, w3, w4, w5, w6, w7, w8), vlo, vhi));
      d += 16;
      r += inputStep;
    }
    if (d < rowEnd) storeLanes(d, clamp(taps3x3(xStride, b, r, rowStep, w0, w1, w2, w3, w4, w5, w6, w7, w8), vlo, vhi), rowEnd - d);
    d = rowEnd;
  }
}

// Any kernel size, stride and dilation: one tap at a time, four outputs per vector (gathered
// lane by lane when the stride is not 1).
function depthwiseGeneral(pad: usize, pwBytes: usize, wo: usize, b: v128, dst: usize, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, dw: i32, vlo: v128, vhi: v128): void {
  const swBytes = <usize>sw << 2;
  let d = dst;
  for (let oy = 0; oy < oh; oy++) {
    const rowEnd = d + (<usize>ow << 2);
    const vectorEnd = lastRowEnd(rowEnd, oy, oh);
    let x: usize = 0;
    while (d < rowEnd) {
      let acc = b;
      for (let ky = 0; ky < kh; ky++) {
        const row = pad + <usize>(oy * sh + ky * dh) * pwBytes + x;
        for (let kx = 0; kx < kw; kx++) {
          const s = row + (<usize>(kx * dw) << 2);
          let v: v128;
          if (sw == 1) v = v128.load(s);
          else {
            v = f32x4.splat(load<f32>(s));
            v = f32x4.replace_lane(v, 1, load<f32>(s + swBytes));
            v = f32x4.replace_lane(v, 2, load<f32>(s + 2 * swBytes));
            v = f32x4.replace_lane(v, 3, load<f32>(s + 3 * swBytes));
          }
          acc = madd(acc, v, v128.load32_splat(wo + (<usize>(ky * kw + kx) << 2)));
        }
      }
      if (d < vectorEnd) v128.store(d, clamp(acc, vlo, vhi));
      else storeLanes(d, clamp(acc, vlo, vhi), rowEnd - d);
      d += 16;
      x += swBytes << 2;
    }
    d = rowEnd;
  }
}

// ---------------------------------------------------------------------------------------------
// Input checks

@inline function nonFiniteBits(bits: u32): bool {
  return (bits & 0x7f800000) == 0x7f800000;
}

/** Index of the first NaN or +-Infinity among n floats (all exponent bits set), or -1. */
export function firstNonFinite(p: usize, n: i32): i32 {
  const exponent = i32x4.splat(0x7f800000);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = p + (<usize>i << 2);
    const a = i32x4.eq(v128.and(v128.load(q), exponent), exponent);
    const b = i32x4.eq(v128.and(v128.load(q, 16), exponent), exponent);
    const c = i32x4.eq(v128.and(v128.load(q, 32), exponent), exponent);
    const d = i32x4.eq(v128.and(v128.load(q, 48), exponent), exponent);
    if (v128.any_true(v128.or(v128.or(a, b), v128.or(c, d)))) break;
  }
  for (; i < n; i++) if (nonFiniteBits(load<u32>(p + (<usize>i << 2)))) return i;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Epilogue pieces the conv kernels do not fuse

/** dst[i] += src[i] for i < n: a residual skip added after the activation. */
export function addInPlace(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  const vectorBytes = bytes & ~(<usize>15);
  let off: usize = 0;
  for (; off < vectorBytes; off += 16) v128.store(dst + off, f32x4.add(v128.load(dst + off), v128.load(src + off)));
  for (; off < bytes; off += 4) store<f32>(dst + off, load<f32>(dst + off) + load<f32>(src + off));
}
