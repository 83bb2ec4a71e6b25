/**
 * Depthwise conv (groups = channels, multiplier 1) on NHWC activations with channels in vec4s.
 * Each thread computes a strip of STRIP consecutive output pixels of one channel group: per
 * kernel row it takes the strip's input span once into registers and reuses every vec4 for up to
 * kernel-width outputs (for 3x3 stride 1: 6 loads for 12 taps instead of 12). Two variants:
 * - {@link depthwiseConv2dProgram}: each thread reads its span straight from the input buffer
 *   (no workgroup memory, no barrier: the fast one on CPU-emulated devices such as SwiftShader);
 * - {@link depthwiseConv2dTiledProgram}: a workgroup first copies the input tile its outputs need
 *   (all rows and columns, for a few channel groups) into workgroup memory, one coalesced load per
 *   input vec4, then every thread reads its spans from there (the one for GPUs, where the
 *   overlapping windows of neighbouring threads would otherwise load each input several times).
 * Kernel size, stride, dilation and padding mode are in the shader text (unrolled); shapes are uniforms.
 */
import { perItemProgram, type Binding, type Program } from './program';
import {
  epilogueKey,
  epilogueProgramBindings,
  epilogueUniforms,
  epilogueWgsl,
  padCoordWgsl,
  type ConvWindow,
  type Epilogue,
  type PixelMap,
} from './wgsl/common';

export interface DepthwiseConfig extends PixelMap, ConvWindow {
  epilogue: Epilogue;
}

/** Outputs per thread along x: 4 balances register use against input reuse. */
const STRIP = 4;

/** Input pixels along one dimension that `outputs` consecutive outputs read. */
const inputSpan = (outputs: number, kernel: number, stride: number, dilation: number) => (outputs - 1) * stride + (kernel - 1) * dilation + 1;

/**
 * WGSL: the FMAs of one kernel row for a strip, reading the span's vec4 `j` with `load(j)` and
 * the row's weights from `w<ky * kw + kx>`.
 */
function stripRowWgsl(cfg: DepthwiseConfig, strip: number, ky: number, load: (j: number) => string): string[] {
  const [, kw] = cfg.kernel;
  const sx = cfg.stride[1];
  const dx = cfg.dilation[1];
  const span = inputSpan(strip, kw, sx, dx);
  const lines: string[] = [];
  for (let j = 0; j < span; j++) {
    // Only the span entries some tap uses are loaded (dilation and stride leave holes).
    const used = [...Array(strip).keys()].some((s) => [...Array(kw).keys()].some((kx) => s * sx + kx * dx === j));
    if (used) lines.push(`    let x${j} = ${load(j)};`);
  }
  for (let s = 0; s < strip; s++) {
    for (let kx = 0; kx < kw; kx++) lines.push(`    acc${s} = fma(x${s * sx + kx * dx}, w${ky * kw + kx}, acc${s});`);
  }
  return lines;
}

/**
 * WGSL: the strip's outputs through the epilogue, in a loop: one copy of the epilogue (with every
 * activation) instead of one per output keeps SwiftShader's compile time down.
 */
function stripWritesWgsl(strip: number): string[] {
  return [
    `  var accs = array<vec4<f32>, ${strip}>(${[...Array(strip).keys()].map((s) => `acc${s}`).join(', ')});`,
    `  for (var s = 0; s < ${strip}; s++) {`,
    '    if (ox0 + s < u.OW) { let o = ((n * u.OH + oy) * u.OW + ox0 + s) * u.C4 + c4; y[o] = epilogue(accs[s], c4, o); }',
    '  }',
  ];
}

const depthwiseBindings = (e: Epilogue): Binding[] =>
  epilogueProgramBindings(
    [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'wt', access: 'read', element: 'vec4<f32>' },
    ],
    e,
  );

const geometryKey = (cfg: DepthwiseConfig) => `k${cfg.kernel.join('x')}-s${cfg.stride.join('x')}-d${cfg.dilation.join('x')}-${cfg.paddingMode}`;

/** The uniforms both depthwise programs open with: the input and output planes and the padding. */
const planeUniforms = (cfg: DepthwiseConfig): Array<[name: string, value: number]> => [
  ['H', cfg.h],
  ['W', cfg.w],
  ['C4', cfg.c4],
  ['OH', cfg.oh],
  ['OW', cfg.ow],
  ['padTop', cfg.padTop],
  ['padLeft', cfg.padLeft],
];

/**
 * Workgroup shapes the tiled variant tries, largest first: [channel groups, output rows, strips].
 * 64 threads where the input tile fits in workgroup memory, else 32 (a stride-2 3x3 tile of 4 x 64
 * outputs would need 18 KiB, over WebGPU's guaranteed 16 KiB).
 */
const TILE_SHAPES: Array<[number, number, number]> = [
  [4, 4, 4],
  [2, 8, 4],
  [1, 8, 8],
  [4, 2, 4],
  [2, 4, 4],
  [1, 4, 8],
  [1, 4, 4],
  [1, 2, 4],
  [1, 1, 4],
];

/**
 * The workgroup-memory variant, or undefined when no tile of {@link TILE_SHAPES} fits in
 * `maxWorkgroupBytes` (a huge kernel or dilation) or the grid would exceed a dispatch.
 */
export function depthwiseConv2dTiledProgram(cfg: DepthwiseConfig, label: string, maxWorkgroupBytes = 16384): Program | undefined {
  const [kh, kw] = cfg.kernel;
  const [sy, sx] = cfg.stride;
  const [dy, dx] = cfg.dilation;
  const strip = Math.min(STRIP, cfg.ow);
  /** The input tile a workgroup shape needs: its columns, and its size in vec4s (rows x columns x channel groups). */
  const tileOf = ([cg, rows, strips]: [number, number, number]) => {
    const tileRows = inputSpan(rows, kh, sy, dy);
    const tileCols = inputSpan(strips * strip, kw, sx, dx);
    return { tileCols, tileVec4s: tileRows * tileCols * cg };
  };
  const shape = TILE_SHAPES.find((candidate) => tileOf(candidate).tileVec4s * 16 <= maxWorkgroupBytes);
  if (!shape) return undefined;
  const [cg, tileOh, tileStrips] = shape;
  const threads = cg * tileOh * tileStrips;
  const { tileCols, tileVec4s } = tileOf(shape);
  const tilesX = Math.ceil(cfg.ow / (tileStrips * strip));
  const tilesY = Math.ceil(cfg.oh / tileOh);
  const channelTiles = Math.ceil(cfg.c4 / cg);
  if (tilesX * tilesY > 65535 || channelTiles > 65535 || cfg.n > 65535) return undefined;

  const lines: string[] = [];
  for (let s = 0; s < strip; s++) lines.push(`  var acc${s} = vec4<f32>(0.0);`);
  // Kernel rows in a loop (columns and strip unrolled): a seventh of the code for a 7x7 kernel,
  // which SwiftShader compiles in a few seconds instead of twenty; on a GPU the weights are cached.
  lines.push(`  for (var ky = 0; ky < ${kh}; ky++) {`, `    let row = ((ty * ${sy} + ky * ${dy}) * ${tileCols} + sxi * ${strip * sx}) * ${cg} + cg;`);
  for (let kx = 0; kx < kw; kx++) lines.push(`    let w${kx} = wt[(ky * ${kw} + ${kx}) * u.C4 + c4];`);
  lines.push(...stripRowWgsl(cfg, strip, 0, (j) => `tile[row + ${j * cg}]`), '  }');
  lines.push(...stripWritesWgsl(strip));
  const body = `${padCoordWgsl(cfg.paddingMode)}
${epilogueWgsl(cfg.epilogue)}
var<workgroup> tile: array<vec4<f32>, ${tileVec4s}>;
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = i32(lid);
  let n = i32(wid.z);
  let c4Base = i32(wid.y) * ${cg};
  let oyBase = (i32(wid.x) / u.tilesX) * ${tileOh};
  let oxBase = (i32(wid.x) % u.tilesX) * ${tileStrips * strip};
  let iyBase = oyBase * ${sy} - u.padTop;
  let ixBase = oxBase * ${sx} - u.padLeft;
  // The tile: consecutive threads take consecutive channel groups, then columns (NHWC order).
  for (var j = i; j < ${tileVec4s}; j += ${threads}) {
    let cc = c4Base + j % ${cg};
    let yy = pc(iyBase + j / ${cg * tileCols}, u.H);
    let xx = pc(ixBase + (j / ${cg}) % ${tileCols}, u.W);
    var v = vec4<f32>(0.0);
    // Rows and columns past the outputs' needs may map outside the input: they are never read.
    if (cc < u.C4 && yy >= 0 && yy < u.H && xx >= 0 && xx < u.W) { v = x[((n * u.H + yy) * u.W + xx) * u.C4 + cc]; }
    tile[j] = v;
  }
  workgroupBarrier();
  let cg = i % ${cg};
  let sxi = (i / ${cg}) % ${tileStrips};
  let ty = i / ${cg * tileStrips};
  let c4 = c4Base + cg;
  let oy = oyBase + ty;
  let ox0 = oxBase + sxi * ${strip};
  if (c4 >= u.C4 || oy >= u.OH) { return; }
${lines.join('\n')}
}`;
  return {
    label,
    shaderKey: `dw-tiled-${geometryKey(cfg)}-strip${strip}-tile${cg}x${tileOh}x${tileStrips}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [threads, 1, 1],
    dispatch: [tilesX * tilesY, channelTiles, cfg.n],
    uniforms: [...planeUniforms(cfg), ['tilesX', tilesX], ...epilogueUniforms(cfg.epilogue)],
    bindings: depthwiseBindings(cfg.epilogue),
    body,
  };
}

/** The register variant: no workgroup memory; each thread loads its spans from the input buffer. */
export function depthwiseConv2dProgram(cfg: DepthwiseConfig, label: string): Program {
  const [kh, kw] = cfg.kernel;
  const [sy, sx] = cfg.stride;
  const [dy, dx] = cfg.dilation;
  const strip = Math.min(STRIP, cfg.ow);
  const span = inputSpan(strip, kw, sx, dx);
  const stripsX = Math.ceil(cfg.ow / strip);
  const total = cfg.n * cfg.oh * stripsX * cfg.c4;
  const zeros = cfg.paddingMode === 'zeros';

  const lines: string[] = [];
  for (let s = 0; s < strip; s++) lines.push(`  var acc${s} = vec4<f32>(0.0);`);
  for (let k = 0; k < kh * kw; k++) lines.push(`  let w${k} = wt[${k} * u.C4 + c4];`);
  for (let j = 0; j < span; j++) lines.push(`  let col${j} = pc(ix0 + ${j}, u.W);`);
  for (let ky = 0; ky < kh; ky++) {
    lines.push(`  {`, `    let iy = pc(oy * ${sy} - u.padTop + ${ky * dy}, u.H);`);
    if (zeros) lines.push(`    if (iy >= 0) {`);
    lines.push(`    let row = (n * u.H + iy) * u.W;`);
    lines.push(
      ...stripRowWgsl(cfg, strip, ky, (j) =>
        zeros ? `select(vec4<f32>(0.0), x[(row + col${j}) * u.C4 + c4], col${j} >= 0)` : `x[(row + col${j}) * u.C4 + c4]`,
      ),
    );
    if (zeros) lines.push(`    }`);
    lines.push(`  }`);
  }
  lines.push(...stripWritesWgsl(strip));

  const main = `let c4 = t % u.C4;
  let rest = t / u.C4;
  let sxi = rest % u.stripsX;
  let r2 = rest / u.stripsX;
  let oy = r2 % u.OH;
  let n = r2 / u.OH;
  let ox0 = sxi * ${strip};
  let ix0 = ox0 * ${sx} - u.padLeft;
${lines.join('\n')}`;
  return perItemProgram({
    label,
    shaderKey: `dw-${geometryKey(cfg)}-strip${strip}-${epilogueKey(cfg.epilogue)}`,
    uniforms: [...planeUniforms(cfg), ['stripsX', stripsX], ['total', total], ...epilogueUniforms(cfg.epilogue)],
    bindings: depthwiseBindings(cfg.epilogue),
    helpers: `${padCoordWgsl(cfg.paddingMode)}\n${epilogueWgsl(cfg.epilogue)}`,
    main,
  });
}
