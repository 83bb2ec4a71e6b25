/**
 * Depthwise convolution, one plane at a time (NCHW keeps each channel's plane contiguous).
 * 3x3 with stride 1 or 2 and no dilation (MobileNet's case) has a register-blocked interior
 * loop and a checked border; everything else accumulates one kernel tap at a time over the
 * range of output columns where that tap stays inside the input, so no loop tests bounds.
 */
import type { ConvGeometry, Epilogue } from './cpuKernels';
import { finishRange } from './epilogue';

export function depthwiseConv2d(input: Float32Array, weight: Float32Array, output: Float32Array, g: ConvGeometry, epilogue: Epilogue): void {
  const multiplier = g.outChannels / g.inChannels;
  const inPlane = g.inHeight * g.inWidth;
  const outPlane = g.outHeight * g.outWidth;
  const taps = g.kernelHeight * g.kernelWidth;
  const fast3x3 =
    g.kernelHeight === 3 &&
    g.kernelWidth === 3 &&
    g.dilationHeight === 1 &&
    g.dilationWidth === 1 &&
    g.strideHeight === g.strideWidth &&
    (g.strideHeight === 1 || g.strideHeight === 2);
  for (let o = 0; o < g.outChannels; o++) {
    const inOffset = Math.floor(o / multiplier) * inPlane;
    const outOffset = o * outPlane;
    if (fast3x3) depthwise3x3Plane(input, inOffset, weight, o * 9, output, outOffset, g);
    else depthwisePlane(input, inOffset, weight, o * taps, output, outOffset, g);
    finishRange(epilogue, output, outOffset, outOffset + outPlane, o);
  }
}

/** One output value with every tap checked against the input bounds (borders only). */
function checkedPoint(input: Float32Array, inOffset: number, weight: Float32Array, wOffset: number, g: ConvGeometry, iy0: number, ix0: number): number {
  let sum = 0;
  for (let ky = 0; ky < g.kernelHeight; ky++) {
    const iy = iy0 + ky * g.dilationHeight;
    if (iy < 0 || iy >= g.inHeight) continue;
    for (let kx = 0; kx < g.kernelWidth; kx++) {
      const ix = ix0 + kx * g.dilationWidth;
      if (ix < 0 || ix >= g.inWidth) continue;
      sum += weight[wOffset + ky * g.kernelWidth + kx]! * input[inOffset + iy * g.inWidth + ix]!;
    }
  }
  return sum;
}

function depthwise3x3Plane(
  input: Float32Array,
  inOffset: number,
  weight: Float32Array,
  wOffset: number,
  output: Float32Array,
  outOffset: number,
  g: ConvGeometry,
): void {
  const s = g.strideHeight;
  const width = g.inWidth;
  const w0 = weight[wOffset]!,
    w1 = weight[wOffset + 1]!,
    w2 = weight[wOffset + 2]!;
  const w3 = weight[wOffset + 3]!,
    w4 = weight[wOffset + 4]!,
    w5 = weight[wOffset + 5]!;
  const w6 = weight[wOffset + 6]!,
    w7 = weight[wOffset + 7]!,
    w8 = weight[wOffset + 8]!;
  // Output columns [xa, xb) read columns ix0 .. ix0 + 2 all inside the input.
  const xa = Math.min(g.outWidth, Math.ceil(g.padLeft / s));
  const xb = Math.max(xa, Math.min(g.outWidth, Math.floor((width - 3 + g.padLeft) / s) + 1));
  for (let oy = 0; oy < g.outHeight; oy++) {
    const iy0 = oy * s - g.padTop;
    const out = outOffset + oy * g.outWidth;
    if (iy0 < 0 || iy0 + 2 >= g.inHeight) {
      for (let ox = 0; ox < g.outWidth; ox++) output[out + ox] = checkedPoint(input, inOffset, weight, wOffset, g, iy0, ox * s - g.padLeft);
      continue;
    }
    for (let ox = 0; ox < xa; ox++) output[out + ox] = checkedPoint(input, inOffset, weight, wOffset, g, iy0, ox * s - g.padLeft);
    const r0 = inOffset + iy0 * width - g.padLeft;
    const r1 = r0 + width;
    const r2 = r1 + width;
    for (let ox = xa; ox < xb; ox++) {
      const i = ox * s;
      output[out + ox] =
        w0 * input[r0 + i]! +
        w1 * input[r0 + i + 1]! +
        w2 * input[r0 + i + 2]! +
        w3 * input[r1 + i]! +
        w4 * input[r1 + i + 1]! +
        w5 * input[r1 + i + 2]! +
        w6 * input[r2 + i]! +
        w7 * input[r2 + i + 1]! +
        w8 * input[r2 + i + 2]!;
    }
    for (let ox = xb; ox < g.outWidth; ox++) output[out + ox] = checkedPoint(input, inOffset, weight, wOffset, g, iy0, ox * s - g.padLeft);
  }
}

function depthwisePlane(
  input: Float32Array,
  inOffset: number,
  weight: Float32Array,
  wOffset: number,
  output: Float32Array,
  outOffset: number,
  g: ConvGeometry,
): void {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, kernelHeight: kh, kernelWidth: kw } = g;
  output.fill(0, outOffset, outOffset + g.outHeight * g.outWidth);
  for (let oy = 0; oy < g.outHeight; oy++) {
    const out = outOffset + oy * g.outWidth;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - g.padTop + ky * dh;
      if (iy < 0 || iy >= g.inHeight) continue;
      for (let kx = 0; kx < kw; kx++) {
        const shift = kx * dw - g.padLeft; // input column = ox * sw + shift
        const xStart = Math.max(0, Math.ceil(-shift / sw));
        const xEnd = Math.min(g.outWidth, Math.floor((g.inWidth - 1 - shift) / sw) + 1);
        const wv = weight[wOffset + ky * kw + kx]!;
        const row = inOffset + iy * g.inWidth + shift;
        if (sw === 1) for (let ox = xStart; ox < xEnd; ox++) output[out + ox] = output[out + ox]! + wv * input[row + ox]!;
        else for (let ox = xStart; ox < xEnd; ox++) output[out + ox] = output[out + ox]! + wv * input[row + ox * sw]!;
      }
    }
  }
}
