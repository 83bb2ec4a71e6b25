/**
 * IEEE 754 half precision (float16) and bfloat16 conversions to and from float32.
 *
 * This module imports neither `vscode` nor the DOM.
 */

/** Typed array views use the host's byte order; the file formats are little-endian. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let halfTable: Float32Array | undefined;

/** Every float16 bit pattern's float32 value, built on first use (256 KiB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0)
      table[h] = sign * mantissa * 2 ** -24; // zero and subnormals
    else if (exponent === 31) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  halfTable = table;
  return table;
}

/** The float32 value of one float16 bit pattern (exact: every float16 is a float32). */
export function halfToFloat(bits: number): number {
  return halfToFloatTable()[bits & 0xffff]!;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** The float16 bit pattern nearest to a number (round half to even; overflow gives infinity). */
export function floatToHalf(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal float16: value = m * 2^-24. Below 2^-25 everything rounds to zero.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa moves into the exponent, which is the correct rounding (up to infinity).
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The float32 value of one bfloat16 bit pattern: its bits are the upper half of a float32. */
export function bfloat16ToFloat(bits: number): number {
  scratchBits[0] = (bits & 0xffff) << 16;
  return scratchFloat[0]!;
}

/** Decodes `count` little-endian float16 values starting at `byteOffset`. */
export function decodeFloat16(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(count);
  for (let i = 0, p = byteOffset; i < count; i++, p += 2) out[i] = table[bytes[p]! | (bytes[p + 1]! << 8)]!;
  return out;
}

/** Decodes `count` little-endian bfloat16 values starting at `byteOffset`. */
export function decodeBfloat16(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const outBits = new Uint32Array(out.buffer);
  // Float32Array views use the host's byte order; bit patterns written as integers are order independent.
  for (let i = 0, p = byteOffset; i < count; i++, p += 2) outBits[i] = ((bytes[p]! | (bytes[p + 1]! << 8)) << 16) >>> 0;
  return out;
}

/** Decodes `count` little-endian float32 values starting at `byteOffset` (a copy, any alignment). */
export function decodeFloat32(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  if (HOST_IS_LITTLE_ENDIAN) {
    const start = bytes.byteOffset + byteOffset;
    return new Float32Array(bytes.buffer.slice(start, start + count * 4));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, count * 4);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Decodes `count` little-endian float64 values starting at `byteOffset`, rounded to float32. */
export function decodeFloat64(bytes: Uint8Array, byteOffset: number, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, count * 8);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

/** Writes float32 values little-endian into `target` at `byteOffset`. */
export function encodeFloat32(values: Float32Array, target: Uint8Array, byteOffset: number): void {
  if (HOST_IS_LITTLE_ENDIAN) {
    target.set(new Uint8Array(values.buffer, values.byteOffset, values.length * 4), byteOffset);
    return;
  }
  const view = new DataView(target.buffer, target.byteOffset + byteOffset, values.length * 4);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
}

/** Writes values as little-endian float16 (round half to even) into `target` at `byteOffset`. */
export function encodeFloat16(values: Float32Array, target: Uint8Array, byteOffset: number): void {
  for (let i = 0, p = byteOffset; i < values.length; i++, p += 2) {
    const half = floatToHalf(values[i]!);
    target[p] = half & 0xff;
    target[p + 1] = half >>> 8;
  }
}
