/**
 * Convolutions and Linear as a tiled matrix multiply C[M, N] = A[M, K] x B[K, N] with a fused
 * epilogue. Rows are output pixels (n, y, x), columns output channels in vec4s, K the reduction:
 * - pointwise (1x1, stride 1, no padding): A is the NHWC input itself, K = input channels;
 * - implicit GEMM (any kernel, groups = 1): A's rows are gathered from the input on the fly,
 *   K = (ky, kx, input channel), so no im2col buffer is ever written;
 * - linear: A is the [rows, features] input.
 * Each workgroup computes a TILE_M x (4 * TILE_N4) block of C, staging A and B tiles of depth
 * 4 * TILE_K4 in workgroup memory; each thread accumulates ROWS rows of one output vec4.
 */
import type { PaddingMode } from '../../shared/spec';
import { dispatch1d, LINEAR_WORKGROUP, type Program } from './program';
import { epilogueBindings } from './depthwiseConv2d';
import { epilogueKey, epilogueWgsl, padCoordWgsl, type Epilogue } from './wgsl/common';

/** Output vec4 columns per workgroup (8 threads across). */
const TILE_N4 = 8;
/** Rows per thread: 4 rows x 1 vec4 = 16 accumulators, enough reuse of each B load. */
const ROWS = 4;
/** Threads down: 8, so a workgroup is 64 threads computing 32 rows x 32 channels. */
const THREADS_M = 8;
const TILE_M = ROWS * THREADS_M;
/** K depth per tile in vec4s (32 scalars): the A and B tiles are 4 KiB each. */
const TILE_K4 = 8;

export type GemmSource =
  | { kind: 'matrix' }
  | {
      kind: 'conv';
      h: number; w: number; ci4: number; oh: number; ow: number;
      kernel: [number, number]; stride: [number, number]; dilation: [number, number];
      padTop: number; padLeft: number; paddingMode: PaddingMode;
    };

export interface GemmConfig {
  m: number;
  /** K in vec4s (the B matrix has 4 * k4 rows). */
  k4: number;
  n4: number;
  source: GemmSource;
  epilogue: Epilogue;
}

function loadAWgsl(source: GemmSource): string {
  if (source.kind === 'matrix') {
    return 'fn loadA(m: i32, k4: i32) -> vec4<f32> { return x[m * u.K4 + k4]; }';
  }
  const [kh, kw] = source.kernel;
  const [sy, sx] = source.stride;
  const [dy, dx] = source.dilation;
  const zeros = source.paddingMode === 'zeros';
  return `${padCoordWgsl(source.paddingMode)}
fn loadA(m: i32, k4: i32) -> vec4<f32> {
  let ic4 = k4 % u.CI4;
  let tap = k4 / u.CI4;
  let ky = tap / ${kw};
  let kx = tap % ${kw};
  let ox = m % u.OW;
  let r = m / u.OW;
  let oy = r % u.OH;
  let n = r / u.OH;
  let iy = pc(oy * ${sy} - u.padTop + ky * ${dy}, u.H);
  let ix = pc(ox * ${sx} - u.padLeft + kx * ${dx}, u.W);
  ${zeros ? 'if (iy < 0 || ix < 0) { return vec4<f32>(0.0); }' : ''}
  return x[((n * u.H + iy) * u.W + ix) * u.CI4 + ic4];
}
// ${kh}x${kw}`;
}

/** Rows per thread in the register-tiled variant: 8 rows x 1 vec4 = 32 accumulators, each B load used 8 times. */
const DIRECT_ROWS = 8;
const DIRECT_WORKGROUP = 64;

/**
 * The register-tiled variant: no workgroup memory and no barriers. Each thread keeps an 8 x 4
 * block of C in registers, neighbouring threads take neighbouring column vec4s (contiguous B
 * loads; the A row they share is one broadcast load). On CPU-emulated devices (SwiftShader),
 * where workgroup memory is ordinary memory and every barrier switches coroutines, this runs
 * several times faster than the workgroup-tiled program; on GPUs the tiled one wins.
 */
export function gemmRegisterTiledProgram(cfg: GemmConfig, label: string): Program {
  const src = cfg.source;
  const sourceKey = src.kind === 'matrix' ? 'matrix'
    : `conv-k${src.kernel.join('x')}-s${src.stride.join('x')}-d${src.dilation.join('x')}-${src.paddingMode}`;
  const convUniforms: Array<[string, number]> = src.kind === 'conv'
    ? [['H', src.h], ['W', src.w], ['CI4', src.ci4], ['OH', src.oh], ['OW', src.ow], ['padTop', src.padTop], ['padLeft', src.padLeft]]
    : [];
  const rowBlocks = Math.ceil(cfg.m / DIRECT_ROWS);
  const total = rowBlocks * cfg.n4;
  const rows = [...Array(DIRECT_ROWS).keys()];
  const body = `${loadAWgsl(src)}
${epilogueWgsl(cfg.epilogue)}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${DIRECT_WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  let col4 = t % u.N4;
  let row0 = (t / u.N4) * ${DIRECT_ROWS};
  ${rows.map((r) => `var acc${r} = vec4<f32>(0.0);`).join(' ')}
  ${rows.map((r) => `let m${r} = min(row0 + ${r}, u.M - 1);`).join(' ')}
  for (var k4 = 0; k4 < u.K4; k4++) {
    let b0 = b[(k4 * 4) * u.N4 + col4];
    let b1 = b[(k4 * 4 + 1) * u.N4 + col4];
    let b2 = b[(k4 * 4 + 2) * u.N4 + col4];
    let b3 = b[(k4 * 4 + 3) * u.N4 + col4];
${rows.map((r) => `    { let a = loadA(m${r}, k4); acc${r} = fma(vec4<f32>(a.x), b0, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.w), b3, acc${r})))); }`).join('\n')}
  }
${rows.map((r) => `  if (row0 + ${r} < u.M) { let o = (row0 + ${r}) * u.N4 + col4; y[o] = epilogue(acc${r}, col4, o); }`).join('\n')}
}`;
  return {
    label,
    shaderKey: `gemm-regtiled-${sourceKey}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [DIRECT_WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / DIRECT_WORKGROUP)),
    uniforms: [['M', cfg.m], ['K4', cfg.k4], ['N4', cfg.n4], ['total', total], ...convUniforms],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'b', access: 'read', element: 'vec4<f32>' },
      ...epilogueBindings(cfg.epilogue),
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    body,
  };
}

export function gemmProgram(cfg: GemmConfig, label: string): Program {
  const src = cfg.source;
  const sourceKey = src.kind === 'matrix' ? 'matrix'
    : `conv-k${src.kernel.join('x')}-s${src.stride.join('x')}-d${src.dilation.join('x')}-${src.paddingMode}`;
  const convUniforms: Array<[string, number]> = src.kind === 'conv'
    ? [['H', src.h], ['W', src.w], ['CI4', src.ci4], ['OH', src.oh], ['OW', src.ow], ['padTop', src.padTop], ['padLeft', src.padLeft]]
    : [];
  const aLoads = (TILE_M * TILE_K4) / (TILE_N4 * THREADS_M);
  const bLoads = (4 * TILE_K4 * TILE_N4) / (TILE_N4 * THREADS_M);
  const rows = [...Array(ROWS).keys()];
  const body = `${loadAWgsl(src)}
${epilogueWgsl(cfg.epilogue)}
var<workgroup> tileA: array<vec4<f32>, ${TILE_M * TILE_K4}>;
var<workgroup> tileB: array<vec4<f32>, ${4 * TILE_K4 * TILE_N4}>;
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let flat = ty * ${TILE_N4} + tx;
  let col4 = i32(wid.x) * ${TILE_N4} + tx;
  let rowBase = i32(wid.y) * ${TILE_M};
  ${rows.map((r) => `var acc${r} = vec4<f32>(0.0);`).join(' ')}
  let tiles = (u.K4 + ${TILE_K4 - 1}) / ${TILE_K4};
  for (var t = 0; t < tiles; t++) {
    let k4Base = t * ${TILE_K4};
    for (var i = 0; i < ${aLoads}; i++) {
      let idx = flat + i * ${TILE_N4 * THREADS_M};
      let m = rowBase + idx / ${TILE_K4};
      let k4 = k4Base + idx % ${TILE_K4};
      var v = vec4<f32>(0.0);
      if (m < u.M && k4 < u.K4) { v = loadA(m, k4); }
      tileA[idx] = v;
    }
    for (var i = 0; i < ${bLoads}; i++) {
      let idx = flat + i * ${TILE_N4 * THREADS_M};
      let k = k4Base * 4 + idx / ${TILE_N4};
      let c = i32(wid.x) * ${TILE_N4} + idx % ${TILE_N4};
      var v = vec4<f32>(0.0);
      if (k < u.K4 * 4 && c < u.N4) { v = b[k * u.N4 + c]; }
      tileB[idx] = v;
    }
    workgroupBarrier();
    for (var kk = 0; kk < ${TILE_K4}; kk++) {
      let b0 = tileB[(kk * 4) * ${TILE_N4} + tx];
      let b1 = tileB[(kk * 4 + 1) * ${TILE_N4} + tx];
      let b2 = tileB[(kk * 4 + 2) * ${TILE_N4} + tx];
      let b3 = tileB[(kk * 4 + 3) * ${TILE_N4} + tx];
${rows.map((r) => `      { let a = tileA[(ty * ${ROWS} + ${r}) * ${TILE_K4} + kk]; acc${r} = fma(vec4<f32>(a.x), b0, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.w), b3, acc${r})))); }`).join('\n')}
    }
    workgroupBarrier();
  }
  if (col4 >= u.N4) { return; }
${rows.map((r) => `  { let m = rowBase + ty * ${ROWS} + ${r}; if (m < u.M) { let o = m * u.N4 + col4; y[o] = epilogue(acc${r}, col4, o); } }`).join('\n')}
}`;
  const tilesM = Math.ceil(cfg.m / TILE_M);
  if (tilesM > 65535) throw new Error(`${label}: ${cfg.m} output pixels exceed one dispatch (at most ${65535 * TILE_M}); use a smaller batch or image`);
  return {
    label,
    shaderKey: `gemm-${sourceKey}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [TILE_N4, THREADS_M, 1],
    dispatch: [Math.ceil(cfg.n4 / TILE_N4), tilesM, 1],
    uniforms: [['M', cfg.m], ['K4', cfg.k4], ['N4', cfg.n4], ...convUniforms],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'b', access: 'read', element: 'vec4<f32>' },
      ...epilogueBindings(cfg.epilogue),
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    body,
  };
}
