/**
 * Upsample (nearest or bilinear) on NCHW float32 arrays, the whole batch at once, from the
 * per-axis tables of upsampleCoordinates.ts: out = w0y * (w0x * a + w1x * b) + w1y * (w0x * c + w1x * d).
 */
import type { AxisTable } from '../../upsampleCoordinates';

type Shape4 = readonly [number, number, number, number];

export function upsample2d(input: Float32Array, inShape: Shape4, output: Float32Array, outShape: Shape4, rows: AxisTable, columns: AxisTable): void {
  const [n, c, h, w] = inShape;
  const [, , oh, ow] = outShape;
  for (let plane = 0; plane < n * c; plane++) {
    const inBase = plane * h * w;
    const outBase = plane * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      const r0 = inBase + rows[oy * 4]! * w;
      const r1 = inBase + rows[oy * 4 + 1]! * w;
      const wy0 = rows[oy * 4 + 2]!;
      const wy1 = rows[oy * 4 + 3]!;
      for (let ox = 0; ox < ow; ox++) {
        const x0 = columns[ox * 4]!;
        const x1 = columns[ox * 4 + 1]!;
        const wx0 = columns[ox * 4 + 2]!;
        const wx1 = columns[ox * 4 + 3]!;
        output[outBase + oy * ow + ox] = wy0 * (wx0 * input[r0 + x0]! + wx1 * input[r0 + x1]!) + wy1 * (wx0 * input[r1 + x0]! + wx1 * input[r1 + x1]!);
      }
    }
  }
}
