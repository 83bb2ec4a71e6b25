/**
 * MaxPool2d and AvgPool2d on NCHW float32 arrays, the whole batch at once, as PyTorch's CPU
 * kernels compute them (windows start at out * stride - padding; MaxPool's padding is -inf and
 * a NaN wins; AvgPool's divisor counts the padding or not, clipped to the padded input).
 */
import type { ResolvedPool2d } from '../../../shared/spec';

type Shape4 = readonly [number, number, number, number];

/** Writes the max of every (dilated) window of `input` ([N, C, H, W]) into `output` ([N, C, OH, OW]). */
export function maxPool2d(
  input: Float32Array,
  inShape: Shape4,
  output: Float32Array,
  outShape: Shape4,
  pool: Pick<ResolvedPool2d, 'kernel' | 'stride' | 'padding' | 'dilation'>,
): void {
  const [n, c, h, w] = inShape;
  const [, , oh, ow] = outShape;
  const [kh, kw] = pool.kernel;
  const [sy, sx] = pool.stride;
  const [py, px] = pool.padding;
  const [dy, dx] = pool.dilation;
  for (let plane = 0; plane < n * c; plane++) {
    const inBase = plane * h * w;
    const outBase = plane * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sy - py;
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sx - px;
        let max = -Infinity;
        for (let ky = 0; ky < kh; ky++) {
          const iy = y0 + ky * dy;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = x0 + kx * dx;
            if (ix < 0 || ix >= w) continue;
            const v = input[inBase + iy * w + ix]!;
            if (v > max || Number.isNaN(v)) max = v;
          }
        }
        output[outBase + oy * ow + ox] = max;
      }
    }
  }
}

/**
 * Writes the average of every window into `output`. The divisor is divisor_override if set, else
 * the window clipped to the padded input (count_include_pad) or to the input itself.
 */
export function avgPool2d(
  input: Float32Array,
  inShape: Shape4,
  output: Float32Array,
  outShape: Shape4,
  pool: Pick<ResolvedPool2d, 'kernel' | 'stride' | 'padding' | 'countIncludePad' | 'divisorOverride'>,
): void {
  const [n, c, h, w] = inShape;
  const [, , oh, ow] = outShape;
  const [kh, kw] = pool.kernel;
  const [sy, sx] = pool.stride;
  const [py, px] = pool.padding;
  for (let plane = 0; plane < n * c; plane++) {
    const inBase = plane * h * w;
    const outBase = plane * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      let y0 = oy * sy - py;
      let y1 = Math.min(y0 + kh, h + py);
      const padded = y1 - y0;
      y0 = Math.max(y0, 0);
      y1 = Math.min(y1, h);
      for (let ox = 0; ox < ow; ox++) {
        let x0 = ox * sx - px;
        let x1 = Math.min(x0 + kw, w + px);
        const poolSize = padded * (x1 - x0);
        x0 = Math.max(x0, 0);
        x1 = Math.min(x1, w);
        if (y0 >= y1 || x0 >= x1) {
          output[outBase + oy * ow + ox] = 0;
          continue;
        }
        let sum = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += input[inBase + iy * w + ix]!;
        const divisor = pool.divisorOverride ?? (pool.countIncludePad ? poolSize : (y1 - y0) * (x1 - x0));
        output[outBase + oy * ow + ox] = sum / divisor;
      }
    }
  }
}
