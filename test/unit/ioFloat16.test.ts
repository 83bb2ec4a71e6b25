import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bfloat16ToFloat, decodeBfloat16, decodeFloat16, floatToHalf, halfToFloat } from '../../src/io/float16';
import { readSafetensors } from '../../src/io/safetensors';
import { FIXTURE_DIR } from './fixtureLoader';

/**
 * The float32 value of a float16 bit pattern, built a different way from the decoder: by
 * assembling the float32 bit pattern (exponent rebiased from 15 to 127, mantissa shifted up
 * by 13 bits), and for subnormals as the exact product m * 2^-24.
 */
function expectedHalf(bits: number): number {
  const sign = bits >>> 15;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return (sign ? -1 : 1) * mantissa * 2 ** -24;
  const f32 = new Uint32Array(1);
  f32[0] = (sign << 31) | ((exponent === 31 ? 255 : exponent - 15 + 127) << 23) | (mantissa << 13);
  return new Float32Array(f32.buffer)[0]!;
}

/** Every float16 value in order, as float64, for nearest-value searches. */
const positiveHalves = Array.from({ length: 0x7c01 }, (_, bits) => expectedHalf(bits)); // up to +Infinity

describe('float16 and bfloat16', () => {
  it('decodes every float16 bit pattern exactly', () => {
    const bytes = new Uint8Array(65536 * 2);
    for (let bits = 0; bits < 65536; bits++) {
      bytes[2 * bits] = bits & 0xff;
      bytes[2 * bits + 1] = bits >>> 8;
    }
    const decoded = decodeFloat16(bytes, 0, 65536);
    const wrong: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const expected = expectedHalf(bits);
      const value = decoded[bits]!;
      const same = Number.isNaN(expected)
        ? Number.isNaN(value) && Number.isNaN(halfToFloat(bits))
        : Object.is(value, expected) && Object.is(halfToFloat(bits), expected);
      if (!same) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
    expect([halfToFloat(0x3c00), halfToFloat(0x7bff), halfToFloat(0x0001), halfToFloat(0xc000), halfToFloat(0x3555)]).toEqual([
      1,
      65504,
      2 ** -24,
      -2,
      1365 / 4096,
    ]);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it('decodes bfloat16 as the upper half of a float32', () => {
    expect([bfloat16ToFloat(0x3f80), bfloat16ToFloat(0xc040), bfloat16ToFloat(0x7f80), bfloat16ToFloat(0x0001)]).toEqual([1, -3, Infinity, 2 ** -133]);
    expect(bfloat16ToFloat(0x7fc0)).toBeNaN();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (bits) => {
        const value = bfloat16ToFloat(bits);
        const bytes = new Uint8Array([bits & 0xff, bits >>> 8]);
        const decoded = decodeBfloat16(bytes, 0, 1)[0]!;
        if (Number.isNaN(value)) return Number.isNaN(decoded);
        const sign = bits >>> 15 ? -1 : 1;
        const exponent = (bits >>> 7) & 0xff;
        const mantissa = bits & 0x7f;
        // Exponent 255 with a zero mantissa is infinity (a non-zero one is NaN, handled above).
        const expected =
          exponent === 255 ? sign * Infinity : exponent === 0 ? sign * mantissa * 2 ** -133 : sign * (1 + mantissa / 128) * 2 ** (exponent - 127);
        return Object.is(value, expected) && Object.is(decoded, expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('encodes to the nearest float16, ties to even', () => {
    const notRoundTripped: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && bits & 0x3ff) continue; // NaN payloads are not kept
      if (floatToHalf(halfToFloat(bits)) !== bits) notRoundTripped.push(bits);
    }
    expect(notRoundTripped).toEqual([]);
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (value) => {
        const bits = floatToHalf(value);
        const magnitude = Math.abs(value);
        expect(bits >>> 15).toBe(Object.is(value, -0) || value < 0 ? 1 : 0);
        const chosen = positiveHalves[bits & 0x7fff]!;
        if (magnitude >= 65520) {
          // 65520 is the tie between 65504 and 2^16, which is out of range: infinity.
          expect(chosen).toBe(Infinity);
          return true;
        }
        // No float16 is nearer; on a tie the chosen one has an even mantissa.
        const below = bits & 0x7fff ? positiveHalves[(bits & 0x7fff) - 1]! : -Infinity;
        const above = positiveHalves[(bits & 0x7fff) + 1]!;
        const error = Math.abs(magnitude - chosen);
        expect(error).toBeLessThanOrEqual(Math.abs(magnitude - below));
        expect(error).toBeLessThanOrEqual(Math.abs(magnitude - above));
        if (error === Math.abs(magnitude - below) || error === Math.abs(magnitude - above)) expect(bits & 1).toBe(0);
        return true;
      }),
      { numRuns: 20000 },
    );
  });

  describe("against PyTorch's own conversions (test/fixtures/format_samples.safetensors)", () => {
    const samples = readSafetensors(readFileSync(join(FIXTURE_DIR, 'format_samples.safetensors'))).tensors;
    const sameBits = (a: Float32Array, b: Float32Array) => {
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)))) expect([i, a[i]]).toEqual([i, b[i]]);
    };

    it('F16: all 65536 patterns decode to the float32 values PyTorch gives', () => {
      sameBits(samples.f16!.data, samples.f16_as_f32!.data);
    });

    it('BF16: sampled patterns decode to the float32 values PyTorch gives', () => {
      sameBits(samples.bf16!.data, samples.bf16_as_f32!.data);
    });

    it('rounds float32 to float16 as PyTorch does (ties, subnormals, overflow)', () => {
      const input = samples.f32_to_round!.data;
      const rounded = new Float32Array(input.length);
      for (let i = 0; i < input.length; i++) rounded[i] = halfToFloat(floatToHalf(input[i]!));
      sameBits(rounded, samples.f32_rounded_f16!.data);
    });
  });
});
