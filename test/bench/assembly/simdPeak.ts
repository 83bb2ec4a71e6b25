// The single-core peak of 128-bit WebAssembly SIMD multiply-add on this machine, for the bench's
// "% of peak" column: twelve independent f32x4 multiply-add chains (enough to hide the add's
// latency), the same mul-then-add pair the kernels use (WebAssembly SIMD has no fused FMA).
// AssemblyScript (this folder is left out of the tsc run), compiled by scripts/bench.mjs with the project's asc.

/** Runs `iterations` rounds of 12 vector multiply-adds (48 MACs each); returns a sum so nothing is dropped. */
export function madds(iterations: i32): f32 {
  const x = f32x4.splat(0.999);
  const y = f32x4.splat(0.0001);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(1), a2 = f32x4.splat(2), a3 = f32x4.splat(3);
  let a4 = f32x4.splat(4), a5 = f32x4.splat(5), a6 = f32x4.splat(6), a7 = f32x4.splat(7);
  let a8 = f32x4.splat(8), a9 = f32x4.splat(9), a10 = f32x4.splat(10), a11 = f32x4.splat(11);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.add(f32x4.mul(a0, x), y);
    a1 = f32x4.add(f32x4.mul(a1, x), y);
    a2 = f32x4.add(f32x4.mul(a2, x), y);
    a3 = f32x4.add(f32x4.mul(a3, x), y);
    a4 = f32x4.add(f32x4.mul(a4, x), y);
    a5 = f32x4.add(f32x4.mul(a5, x), y);
    a6 = f32x4.add(f32x4.mul(a6, x), y);
    a7 = f32x4.add(f32x4.mul(a7, x), y);
    a8 = f32x4.add(f32x4.mul(a8, x), y);
    a9 = f32x4.add(f32x4.mul(a9, x), y);
    a10 = f32x4.add(f32x4.mul(a10, x), y);
    a11 = f32x4.add(f32x4.mul(a11, x), y);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)), f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
