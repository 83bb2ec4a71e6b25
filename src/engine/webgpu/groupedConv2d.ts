/**
 * Grouped conv (1 < groups, not a plain depthwise) and depthwise with a channel multiplier: a
 * direct convolution, one thread per output vec4, each lane reading its own group's channels.
 * These are rare in the models this project targets; the fast paths are depthwiseConv2d.ts and
 * gemmConv2d.ts. Kernel size, stride and dilation are uniforms: one pipeline per padding mode.
 * The geometry, uniforms and bindings here serve the transposed conv's gather too (convTranspose2d.ts).
 */
import type { PaddingMode } from '../../shared/spec';
import type { FeatureMaps } from './encoding';
import { groups4, perItemProgram, type Binding, type Program } from './program';
import { epilogueKey, epilogueProgramBindings, epilogueUniforms, epilogueWgsl, LANE_MAIN_WGSL, padCoordWgsl, type Epilogue } from './wgsl/common';

/** The shapes of a grouped program, in channel groups, and the channels of one group on each side. */
export interface GroupedShapes {
  n: number;
  h: number;
  w: number;
  ci4: number;
  oh: number;
  ow: number;
  outChannels: number;
  n4: number;
  cinPerGroup: number;
  coutPerGroup: number;
}

/** What a grouped conv and a transposed conv share: their shapes, the window (but its padding) and the epilogue. */
export interface GroupedWindow extends GroupedShapes {
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  epilogue: Epilogue;
}

export interface GroupedConfig extends GroupedWindow {
  padTop: number;
  padLeft: number;
  paddingMode: PaddingMode;
}

export function groupedShapes(maps: FeatureMaps, groups: number): GroupedShapes {
  const { n, c, h, w, outChannels, oh, ow } = maps;
  return { n, h, w, ci4: groups4(c), oh, ow, outChannels, n4: groups4(outChannels), cinPerGroup: c / groups, coutPerGroup: outChannels / groups };
}

/** The uniforms both grouped programs read (the padding is each one's own), the epilogue's last. */
export function groupedUniforms(cfg: GroupedWindow, padding: Array<[string, number]>): Array<[string, number]> {
  return [
    ['H', cfg.h],
    ['W', cfg.w],
    ['CI4', cfg.ci4],
    ['OH', cfg.oh],
    ['OW', cfg.ow],
    ...padding,
    ['COUT', cfg.outChannels],
    ['N4', cfg.n4],
    ['cinPerGroup', cfg.cinPerGroup],
    ['coutPerGroup', cfg.coutPerGroup],
    ['total', cfg.n * cfg.oh * cfg.ow * cfg.n4],
    ['KH', cfg.kernel[0]],
    ['KW', cfg.kernel[1]],
    ['SY', cfg.stride[0]],
    ['SX', cfg.stride[1]],
    ['DY', cfg.dilation[0]],
    ['DX', cfg.dilation[1]],
    ...epilogueUniforms(cfg.epilogue),
  ];
}

/** Both grouped programs read the NHWC input `x` and PyTorch's weight `wt` as scalars. */
export const groupedBindings = (e: Epilogue): Binding[] =>
  epilogueProgramBindings(
    [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'wt', access: 'read', element: 'f32' },
    ],
    e,
  );

export function groupedConv2dProgram(cfg: GroupedConfig, label: string): Program {
  const zeros = cfg.paddingMode === 'zeros';
  const helpers = `${padCoordWgsl(cfg.paddingMode)}
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
}`;
  return perItemProgram({
    label,
    shaderKey: `grouped-${cfg.paddingMode}-${epilogueKey(cfg.epilogue)}`,
    uniforms: groupedUniforms(cfg, [
      ['padTop', cfg.padTop],
      ['padLeft', cfg.padLeft],
    ]),
    bindings: groupedBindings(cfg.epilogue),
    helpers,
    main: LANE_MAIN_WGSL,
  });
}
