/** The plain-JS kernels: the default {@link CpuKernels}. */
import { conv2dIm2col, pointwiseConv2d } from './conv2d';
import type { CpuKernels } from './cpuKernels';
import { depthwiseConv2d } from './depthwise';
import { epilogueInPlace } from './epilogue';

export const jsKernels: CpuKernels = {
  name: 'js',
  depthwiseConv2d,
  pointwiseConv2d,
  conv2d: conv2dIm2col,
  epilogue: epilogueInPlace,
};
