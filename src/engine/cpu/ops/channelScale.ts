/** x * s with s of shape [N, C, 1, 1] broadcast over H and W: the product that ends a squeeze-excitation block. */
type Shape4 = readonly [number, number, number, number];

export function channelScale(input: Float32Array, shape: Shape4, scale: Float32Array, output: Float32Array): void {
  const [n, c, h, w] = shape;
  const plane = h * w;
  for (let p = 0; p < n * c; p++) {
    const s = scale[p]!;
    for (let i = p * plane, end = i + plane; i < end; i++) output[i] = input[i]! * s;
  }
}
