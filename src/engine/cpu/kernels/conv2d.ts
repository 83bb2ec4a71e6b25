/**
 * Standard and grouped convolution as im2col + GEMM, per group, over chunks of output pixels
 * so the column buffer stays small whatever the image size.
 */
import type { ConvGeometry, Epilogue } from './cpuKernels';
import { gemm } from './gemm';

/** Column buffer budget in floats (1 MB): a chunk of pixels x (Cin/groups * kh * kw) rows. */
const COLUMN_BUDGET = 1 << 18;

export function pointwiseConv2d(
  input: Float32Array,
  weight: Float32Array,
  output: Float32Array,
  inChannels: number,
  outChannels: number,
  pixels: number,
  epilogue: Epilogue,
): void {
  gemm({
    m: outChannels,
    n: pixels,
    k: inChannels,
    a: weight,
    aOffset: 0,
    b: input,
    bOffset: 0,
    ldb: pixels,
    c: output,
    cOffset: 0,
    ldc: pixels,
    epilogue,
    channelOffset: 0,
  });
}

export function conv2dIm2col(input: Float32Array, weight: Float32Array, output: Float32Array, g: ConvGeometry, epilogue: Epilogue): void {
  const groupIn = g.inChannels / g.groups;
  const groupOut = g.outChannels / g.groups;
  const taps = g.kernelHeight * g.kernelWidth;
  const rows = groupIn * taps;
  const pixels = g.outHeight * g.outWidth;
  const chunk = Math.max(1, Math.min(pixels, Math.floor(COLUMN_BUDGET / rows)));
  const columns = new Float32Array(rows * chunk);
  const inPlane = g.inHeight * g.inWidth;
  for (let group = 0; group < g.groups; group++) {
    for (let p0 = 0; p0 < pixels; p0 += chunk) {
      const p1 = Math.min(pixels, p0 + chunk);
      const width = p1 - p0;
      for (let c = 0; c < groupIn; c++) {
        const plane = (group * groupIn + c) * inPlane;
        for (let ky = 0; ky < g.kernelHeight; ky++) {
          for (let kx = 0; kx < g.kernelWidth; kx++) {
            const rowOffset = ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * width;
            for (let p = p0; p < p1; p++) {
              const oy = Math.floor(p / g.outWidth);
              const ox = p - oy * g.outWidth;
              const iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight;
              const ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth;
              columns[rowOffset + p - p0] = iy >= 0 && iy < g.inHeight && ix >= 0 && ix < g.inWidth ? input[plane + iy * g.inWidth + ix]! : 0;
            }
          }
        }
      }
      gemm({
        m: groupOut,
        n: width,
        k: rows,
        a: weight,
        aOffset: group * groupOut * rows,
        b: columns,
        bOffset: 0,
        ldb: width,
        c: output,
        cOffset: group * groupOut * pixels + p0,
        ldc: pixels,
        epilogue,
        channelOffset: group * groupOut,
      });
    }
  }
}
