/** A small PNG reader for the tests: 8-bit greyscale, RGB or RGBA, non-interlaced, all five filters. */
import { inflateSync } from 'node:zlib';

export function decodePng(file: Uint8Array): { width: number; height: number; data: Uint8ClampedArray } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let offset = 8;
  let width = 0;
  let height = 0;
  let colourType = 0;
  const idat: Uint8Array[] = [];
  while (offset < file.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...file.subarray(offset + 4, offset + 8));
    const body = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      colourType = body[9]!;
    } else if (type === 'IDAT') idat.push(body);
    offset += 12 + length;
  }
  const channels = { 0: 1, 2: 3, 6: 4 }[colourType as 0 | 2 | 6];
  if (!channels) throw new Error(`colour type ${colourType} is not supported`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      pixels[y * stride + x] = (line[x]! + predictor) & 0xff;
    }
  }
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const grey = channels === 1;
    data[i * 4] = pixels[i * channels]!;
    data[i * 4 + 1] = grey ? pixels[i]! : pixels[i * channels + 1]!;
    data[i * 4 + 2] = grey ? pixels[i]! : pixels[i * channels + 2]!;
    data[i * 4 + 3] = channels === 4 ? pixels[i * 4 + 3]! : 255;
  }
  return { width, height, data };
}
