/**
 * Grouped conv (1 < groups, not a plain depthwise) and depthwise with a channel multiplier: a
 * direct convolution, one thread per output vec4, each lane reading its own group's channels.
 * These are rare in the models this project targets; the fast paths are depthwiseConv2d.ts and
 * gemmConv2d.ts. Kernel size, stride and dilation are uniforms: one pipeline per padding mode.
 */
import type { PaddingMode } from '../../shared/spec';
import { dispatch1d, type Program } from './program';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, laneMainWgsl, padCoordWgsl, type Epilogue } from './wgsl/common';

export interface GroupedConfig {
  n: number; h: number; w: number; ci4: number; oh: number; ow: number;
  outChannels: number; n4: number; cinPerGroup: number; coutPerGroup: number;
  kernel: [number, number]; stride: [number, number]; dilation: [number, number];
  padTop: number; padLeft: number; paddingMode: PaddingMode;
  epilogue: Epilogue;
}

const WORKGROUP = 64;

export function groupedConv2dProgram(cfg: GroupedConfig, label: string): Program {
  const [kh, kw] = cfg.kernel;
  const [sy, sx] = cfg.stride;
  const [dy, dx] = cfg.dilation;
  const total = cfg.n * cfg.oh * cfg.ow * cfg.n4;
  const zeros = cfg.paddingMode === 'zeros';
  const body = `${padCoordWgsl(cfg.paddingMode)}
${epilogueWgsl(cfg.epilogue)}
fn lane(n: i32, oy: i32, ox: i32, oc: i32) -> f32 {
  if (oc >= u.COUT) { return 0.0; }
  let g = oc / u.coutPerGroup;
  var s = 0.0;
  for (var ky = 0; ky < u.KH; ky++) {
    let iy = pc(oy * u.SY - u.padTop + ky * u.DY, u.H);
    ${zeros ? 'if (iy < 0) { continue; }' : ''}
    for (var kx = 0; kx < u.KW; kx++) {
      let ix = pc(ox * u.SX - u.padLeft + kx * u.DX, u.W);
      ${zeros ? 'if (ix < 0) { continue; }' : ''}
      let base = ((n * u.H + iy) * u.W + ix) * u.CI4 * 4 + g * u.cinPerGroup;
      for (var i = 0; i < u.cinPerGroup; i++) {
        s = fma(x[base + i], wt[((oc * u.cinPerGroup + i) * u.KH + ky) * u.KW + kx], s);
      }
    }
  }
  return s;
}
${laneMainWgsl(WORKGROUP)}`;
  return {
    label,
    shaderKey: `grouped-${cfg.paddingMode}-${epilogueKey(cfg.epilogue)}`,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['H', cfg.h], ['W', cfg.w], ['CI4', cfg.ci4], ['OH', cfg.oh], ['OW', cfg.ow], ['padTop', cfg.padTop], ['padLeft', cfg.padLeft],
      ['COUT', cfg.outChannels], ['N4', cfg.n4], ['cinPerGroup', cfg.cinPerGroup], ['coutPerGroup', cfg.coutPerGroup], ['total', total],
      ['KH', kh], ['KW', kw], ['SY', sy], ['SX', sx], ['DY', dy], ['DX', dx], ...epilogueUniforms(cfg.epilogue)],
    bindings: epilogueProgramBindings([
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'wt', access: 'read', element: 'f32' },
    ], cfg.epilogue),
    body,
  };
}
