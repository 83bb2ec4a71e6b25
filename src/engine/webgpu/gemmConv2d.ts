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
import { perItemProgram, type Binding, type Program } from './program';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, padCoordWgsl, type ConvWindow, type Epilogue } from './wgsl/common';

/** Output vec4 columns per workgroup (8 threads across). */
const TILE_N4 = 8;
/** Rows per thread: 4 rows x 1 vec4 = 16 accumulators, enough reuse of each B load. */
const ROWS = 4;
/** Threads down: 8, so a workgroup is 64 threads computing 32 rows x 32 channels. */
const THREADS_M = 8;
const TILE_M = ROWS * THREADS_M;
/** K depth per tile in vec4s (32 scalars): the A and B tiles are 4 KiB each. */
const TILE_K4 = 8;

/** Both GEMM variants read the A source `x` and the packed B matrix `b`, both in vec4s. */
const gemmBindings = (e: Epilogue): Binding[] =>
  epilogueProgramBindings(
    [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'b', access: 'read', element: 'vec4<f32>' },
    ],
    e,
  );

export type GemmSource =
  | { kind: 'matrix' }
  | ({
      kind: 'conv';
      h: number;
      w: number;
      ci4: number;
      oh: number;
      ow: number;
    } & ConvWindow);

export interface GemmConfig {
  m: number;
  /** K in vec4s (the B matrix has 4 * k4 rows). */
  k4: number;
  n4: number;
  source: GemmSource;
  epilogue: Epilogue;
}

/**
 * The source's shape as uniforms (kernel, stride and dilation included): one pipeline serves every
 * conv of a padding mode. A matrix source is a conv of 1x1 pixels: row m is image m, K4 = CI4.
 */
function sourceUniforms(cfg: GemmConfig): Array<[string, number]> {
  const src = cfg.source;
  if (src.kind === 'matrix')
    return [
      ['H', 1],
      ['W', 1],
      ['CI4', cfg.k4],
      ['OH', 1],
      ['OW', 1],
      ['padTop', 0],
      ['padLeft', 0],
      ['KH', 1],
      ['KW', 1],
      ['SY', 1],
      ['SX', 1],
      ['DY', 1],
      ['DX', 1],
    ];
  return [
    ['H', src.h],
    ['W', src.w],
    ['CI4', src.ci4],
    ['OH', src.oh],
    ['OW', src.ow],
    ['padTop', src.padTop],
    ['padLeft', src.padLeft],
    ['KH', src.kernel[0]],
    ['KW', src.kernel[1]],
    ['SY', src.stride[0]],
    ['SX', src.stride[1]],
    ['DY', src.dilation[0]],
    ['DX', src.dilation[1]],
  ];
}

const sourceKey = (src: GemmSource) => (src.kind === 'matrix' ? 'matrix' : `conv-${src.paddingMode}`);

/**
 * `fn pixel(n, iy, ix) -> i32`: the vec4 index of input pixel (n, iy, ix) (before the padding
 * mode maps it), or -1 for a zero of zero padding.
 */
function pixelWgsl(source: GemmSource): string {
  if (source.kind === 'matrix') return 'fn pixel(n: i32, iy: i32, ix: i32) -> i32 { return n * u.CI4; }';
  return `${padCoordWgsl(source.paddingMode)}
fn pixel(n: i32, iy: i32, ix: i32) -> i32 {
  let y = pc(iy, u.H);
  let x = pc(ix, u.W);
  ${source.paddingMode === 'zeros' ? 'if (y < 0 || x < 0) { return -1; }' : ''}
  return ((n * u.H + y) * u.W + x) * u.CI4;
}`;
}

/** WGSL expression: the A vec4 at pixel index `p` (from `pixel`), channel group `ic4`. */
const loadExpression = (source: GemmSource, p: string, ic4: string) =>
  source.kind === 'conv' && source.paddingMode === 'zeros' ? `select(vec4<f32>(0.0), x[max(${p}, 0) + ${ic4}], ${p} >= 0)` : `x[${p} + ${ic4}]`;

/** `fn loadA(m: i32, k4: i32) -> vec4<f32>`: one element of the (implicit) A matrix. */
function loadAWgsl(source: GemmSource): string {
  return `${pixelWgsl(source)}
fn loadA(m: i32, k4: i32) -> vec4<f32> {
  let ic4 = k4 % u.CI4;
  let tap = k4 / u.CI4;
  let ox = m % u.OW;
  let r = m / u.OW;
  let p = pixel(r / u.OH, (r % u.OH) * u.SY - u.padTop + (tap / u.KW) * u.DY, ox * u.SX - u.padLeft + (tap % u.KW) * u.DX);
  return ${loadExpression(source, 'p', 'ic4')};
}`;
}

/** Rows per thread in the register-tiled variant: 8 rows x 1 vec4 = 32 accumulators, each B load used 8 times. */
const DIRECT_ROWS = 8;
/**
 * Rows per thread for a conv source: 4. With 8 rows SwiftShader's compiler needs over a minute
 * for the three nested loops (32 live vec4 accumulators plus 8 pixel indices); with 4 about a second.
 */
const CONV_ROWS = 4;

/**
 * The register-tiled variant: no workgroup memory and no barriers. Each thread keeps an 8 x 4
 * block of C in registers, neighbouring threads take neighbouring column vec4s (contiguous B
 * loads; the A row they share is one broadcast load). On CPU-emulated devices (SwiftShader),
 * where workgroup memory is ordinary memory and every barrier switches coroutines, this runs
 * several times faster than the workgroup-tiled program; on GPUs the tiled one wins.
 * The reduction runs tap by tap: each row's input pixel is found once per tap (padding mode
 * applied there), then the inner loop over input channel groups is a plain load and four FMAs.
 */
export function gemmRegisterTiledProgram(cfg: GemmConfig, label: string): Program {
  const src = cfg.source;
  const rowsPerThread = src.kind === 'matrix' ? DIRECT_ROWS : CONV_ROWS;
  const rowBlocks = Math.ceil(cfg.m / rowsPerThread);
  const total = rowBlocks * cfg.n4;
  const rows = [...Array(rowsPerThread).keys()];
  const main = `let col4 = t % u.N4;
  let row0 = (t / u.N4) * ${rowsPerThread};
  ${rows.map((r) => `var acc${r} = vec4<f32>(0.0);`).join(' ')}
${rows.map((r) => `  let m${r} = min(row0 + ${r}, u.M - 1); let n${r} = m${r} / (u.OW * u.OH); let y${r} = ((m${r} / u.OW) % u.OH) * u.SY - u.padTop; let x${r} = (m${r} % u.OW) * u.SX - u.padLeft;`).join('\n')}
  for (var ky = 0; ky < u.KH; ky++) {
    for (var kx = 0; kx < u.KW; kx++) {
${rows.map((r) => `      let p${r} = pixel(n${r}, y${r} + ky * u.DY, x${r} + kx * u.DX);`).join('\n')}
      var bRow = (ky * u.KW + kx) * u.CI4 * 4 * u.N4 + col4;
      for (var ic4 = 0; ic4 < u.CI4; ic4++) {
        let b0 = b[bRow];
        let b1 = b[bRow + u.N4];
        let b2 = b[bRow + 2 * u.N4];
        let b3 = b[bRow + 3 * u.N4];
        bRow += 4 * u.N4;
${rows.map((r) => `        { let a = ${loadExpression(src, `p${r}`, 'ic4')}; acc${r} = fma(vec4<f32>(a.x), b0, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.w), b3, acc${r})))); }`).join('\n')}
      }
    }
  }
  // One copy of the epilogue, in a loop: SwiftShader compiles one call instead of one per row.
  var accs = array<vec4<f32>, ${rowsPerThread}>(${rows.map((r) => `acc${r}`).join(', ')});
  for (var r = 0; r < ${rowsPerThread}; r++) {
    if (row0 + r < u.M) { let o = (row0 + r) * u.N4 + col4; y[o] = epilogue(accs[r], col4, o); }
  }`;
  return perItemProgram({
    label,
    shaderKey: `gemm-regtiled${rowsPerThread}-${sourceKey(src)}-${epilogueKey(cfg.epilogue)}`,
    uniforms: [['M', cfg.m], ['K4', cfg.k4], ['N4', cfg.n4], ['total', total], ...sourceUniforms(cfg), ...epilogueUniforms(cfg.epilogue)],
    bindings: gemmBindings(cfg.epilogue),
    helpers: `${pixelWgsl(src)}\n${epilogueWgsl(cfg.epilogue)}`,
    main,
  });
}

export function gemmProgram(cfg: GemmConfig, label: string): Program {
  const src = cfg.source;
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
  var accs = array<vec4<f32>, ${ROWS}>(${rows.map((r) => `acc${r}`).join(', ')});
  for (var r = 0; r < ${ROWS}; r++) {
    let m = rowBase + ty * ${ROWS} + r;
    if (m < u.M) { let o = m * u.N4 + col4; y[o] = epilogue(accs[r], col4, o); }
  }
}`;
  const tilesM = Math.ceil(cfg.m / TILE_M);
  if (tilesM > 65535) throw new Error(`${label}: ${cfg.m} output pixels exceed one dispatch (at most ${65535 * TILE_M}); use a smaller batch or image`);
  return {
    label,
    shaderKey: `gemm-${sourceKey(src)}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [TILE_N4, THREADS_M, 1],
    dispatch: [Math.ceil(cfg.n4 / TILE_N4), tilesM, 1],
    uniforms: [['M', cfg.m], ['K4', cfg.k4], ['N4', cfg.n4], ...sourceUniforms(cfg), ...epilogueUniforms(cfg.epilogue)],
    bindings: gemmBindings(cfg.epilogue),
    body,
  };
}
