/**
 * ConvTranspose2d on NCHW float32 arrays, the whole batch at once, written as a gather: output
 * pixel (oy, ox) sums input pixel iy = (oy + padding - ky * dilation) / stride wherever that
 * divides exactly and lands inside the input. Weights are PyTorch's [Cin, Cout / groups, kh, kw].
 * The epilogue (bias, activation, residual) is applied per output plane.
 */
import type { ResolvedConvTranspose2d } from '../../../shared/spec';
import { finishRange } from '../kernels/epilogue';
import type { Epilogue } from '../kernels/cpuKernels';

type Shape4 = readonly [number, number, number, number];

export function convTranspose2d(
  input: Float32Array,
  inShape: Shape4,
  weight: Float32Array,
  output: Float32Array,
  outShape: Shape4,
  conv: Pick<ResolvedConvTranspose2d, 'kernel' | 'stride' | 'padding' | 'dilation' | 'groups'>,
  epilogue: Epilogue,
): void {
  const [n, cin, h, w] = inShape;
  const [, cout, oh, ow] = outShape;
  const [kh, kw] = conv.kernel;
  const [sy, sx] = conv.stride;
  const [py, px] = conv.padding;
  const [dy, dx] = conv.dilation;
  const inPerGroup = cin / conv.groups;
  const outPerGroup = cout / conv.groups;
  const plane = oh * ow;
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < cout; oc++) {
      const group = Math.floor(oc / outPerGroup);
      const local = oc % outPerGroup;
      const outBase = (b * cout + oc) * plane;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let sum = 0;
          for (let ky = 0; ky < kh; ky++) {
            const ty = oy + py - ky * dy;
            if (ty < 0 || ty % sy !== 0) continue;
            const iy = ty / sy;
            if (iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const tx = ox + px - kx * dx;
              if (tx < 0 || tx % sx !== 0) continue;
              const ix = tx / sx;
              if (ix >= w) continue;
              for (let i = 0; i < inPerGroup; i++) {
                const ic = group * inPerGroup + i;
                sum += input[((b * cin + ic) * h + iy) * w + ix]! * weight[((ic * outPerGroup + local) * kh + ky) * kw + kx]!;
              }
            }
          }
          output[outBase + oy * ow + ox] = sum;
        }
      }
      const residual = epilogue.residual?.subarray(b * cout * plane, (b + 1) * cout * plane);
      finishRange({ ...epilogue, residual }, output.subarray(b * cout * plane, (b + 1) * cout * plane), oc * plane, (oc + 1) * plane, oc);
    }
  }
}
