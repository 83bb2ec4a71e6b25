/**
 * ChannelShuffle on NCHW float32 arrays: channels viewed as [groups, C / groups], transposed to
 * [C / groups, groups]. Output channel o = k * groups + g takes input channel g * (C / groups) + k.
 */
type Shape4 = readonly [number, number, number, number];

/** The input channel that output channel `o` takes. */
export function shuffledSource(o: number, channels: number, groups: number): number {
  return (o % groups) * (channels / groups) + Math.floor(o / groups);
}

export function channelShuffle(input: Float32Array, shape: Shape4, output: Float32Array, groups: number): void {
  const [n, c, h, w] = shape;
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < c; o++) {
      const from = (b * c + shuffledSource(o, c, groups)) * plane;
      output.set(input.subarray(from, from + plane), (b * c + o) * plane);
    }
  }
}
