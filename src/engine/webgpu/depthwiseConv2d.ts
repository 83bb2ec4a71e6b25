/**
 * Depthwise conv (groups = channels, multiplier 1) on NHWC activations with channels in vec4s.
 * Each thread computes a strip of STRIP consecutive output pixels of one channel group: per
 * kernel row it loads the strip's input span once into registers and reuses every loaded vec4 for
 * up to kernel-width outputs (for 3x3 stride 1: 6 loads for 12 taps instead of 12). Kernel size,
 * stride, dilation and padding mode are in the shader text (unrolled); shapes are uniforms.
 */
import type { PaddingMode } from '../../shared/spec';
import { dispatch1d, LINEAR_WORKGROUP, type Binding, type Program } from './program';
import { epilogueKey, epilogueWgsl, padCoordWgsl, type Epilogue } from './wgsl/common';

export interface DepthwiseConfig {
  n: number; h: number; w: number; c4: number; oh: number; ow: number;
  kernel: [number, number]; stride: [number, number]; dilation: [number, number];
  padTop: number; padLeft: number; paddingMode: PaddingMode;
  epilogue: Epilogue;
}

/** 64 threads: a multiple of SwiftShader's SIMD width and of every GPU's subgroup size. */
const WORKGROUP = 64;
/** Outputs per thread along x: 4 balances register use against input reuse. */
const STRIP = 4;

export function epilogueBindings(e: Epilogue): Binding[] {
  const list: Binding[] = [];
  if (e.affine) list.push({ name: 'scale', access: 'read', element: 'vec4<f32>' }, { name: 'shift', access: 'read', element: 'vec4<f32>' });
  if (e.residual) list.push({ name: 'residual', access: 'read', element: 'vec4<f32>' });
  return list;
}

export function depthwiseConv2dProgram(cfg: DepthwiseConfig, label: string): Program {
  const [kh, kw] = cfg.kernel;
  const [sy, sx] = cfg.stride;
  const [dy, dx] = cfg.dilation;
  const strip = Math.min(STRIP, cfg.ow);
  const span = (strip - 1) * sx + (kw - 1) * dx + 1;
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
    for (let j = 0; j < span; j++) {
      // Only the span entries some tap uses are loaded (dilation and stride leave holes).
      const used = [...Array(strip).keys()].some((s) => [...Array(kw).keys()].some((kx) => s * sx + kx * dx === j));
      if (!used) continue;
      lines.push(zeros
        ? `    let x${j} = select(vec4<f32>(0.0), x[(row + col${j}) * u.C4 + c4], col${j} >= 0);`
        : `    let x${j} = x[(row + col${j}) * u.C4 + c4];`);
    }
    for (let s = 0; s < strip; s++) {
      for (let kx = 0; kx < kw; kx++) lines.push(`    acc${s} = fma(x${s * sx + kx * dx}, w${ky * kw + kx}, acc${s});`);
    }
    if (zeros) lines.push(`    }`);
    lines.push(`  }`);
  }
  for (let s = 0; s < strip; s++) {
    lines.push(`  if (ox0 + ${s} < u.OW) { let o = ((n * u.OH + oy) * u.OW + ox0 + ${s}) * u.C4 + c4; y[o] = epilogue(acc${s}, c4, o); }`);
  }

  const body = `${padCoordWgsl(cfg.paddingMode)}
${epilogueWgsl(cfg.epilogue)}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  let c4 = t % u.C4;
  let rest = t / u.C4;
  let sxi = rest % u.stripsX;
  let r2 = rest / u.stripsX;
  let oy = r2 % u.OH;
  let n = r2 / u.OH;
  let ox0 = sxi * ${strip};
  let ix0 = ox0 * ${sx} - u.padLeft;
${lines.join('\n')}
}`;
  return {
    label,
    shaderKey: `dw-k${kh}x${kw}-s${sy}x${sx}-d${dy}x${dx}-${cfg.paddingMode}-strip${strip}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['H', cfg.h], ['W', cfg.w], ['C4', cfg.c4], ['OH', cfg.oh], ['OW', cfg.ow], ['padTop', cfg.padTop], ['padLeft', cfg.padLeft], ['stripsX', stripsX], ['total', total]],
    bindings: [
      { name: 'x', access: 'read', element: 'vec4<f32>' },
      { name: 'wt', access: 'read', element: 'vec4<f32>' },
      ...epilogueBindings(cfg.epilogue),
      { name: 'y', access: 'write', element: 'vec4<f32>' },
    ],
    body,
  };
}
