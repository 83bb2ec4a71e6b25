/**
 * The page's raw inflate (src/shared/inflate.ts) against zlib's deflate: every block type and
 * strategy zlib writes, data like the feature maps' previews and data like noise; and streams that
 * lie (truncated, corrupted, the wrong size) end in an InflateError, never in a hang or other error.
 */
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InflateError, inflateRaw } from '../../src/shared/inflate';

/** Bytes like a ReLU map's previews: long runs of 0, short ramps, a repeating pattern. */
function previewLike(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = i % 997 < 40 ? (i * 7) & 255 : i % 5003 < 9 ? 255 : 0;
  return out;
}

const STRATEGIES = [
  ['default', constants.Z_DEFAULT_STRATEGY],
  ['fixed Huffman codes', constants.Z_FIXED],
  ['Huffman only', constants.Z_HUFFMAN_ONLY],
  ['run lengths', constants.Z_RLE],
  ['filtered', constants.Z_FILTERED],
] as const;

describe('inflateRaw', () => {
  for (const [name, strategy] of STRATEGIES) {
    it(`undoes zlib at levels 0, 1, 6 and 9, strategy ${name}`, () => {
      const noise = new Uint8Array(randomBytes(200_000)).map((b) => (b < 100 ? 0 : b));
      for (const data of [previewLike(300_000), noise, new Uint8Array(70_000), Uint8Array.of(42), new Uint8Array(0)]) {
        for (const level of [0, 1, 6, 9]) {
          const packed = deflateRawSync(data, { level, strategy });
          expect(Buffer.from(inflateRaw(packed, data.length)).equals(Buffer.from(data)), `${data.length} bytes at level ${level}`).toBe(true);
        }
      }
    });
  }

  it('undoes streams of several stored, fixed and dynamic blocks (zlib flushed between them)', () => {
    const parts = [previewLike(40_000), new Uint8Array(randomBytes(30_000)), new Uint8Array(5000).fill(7)];
    const data = Buffer.concat(parts);
    for (const level of [0, 1, 9]) {
      const chunks: Buffer[] = [];
      // A full flush after each part ends a block there and starts afresh: several blocks, several kinds.
      let at = 0;
      for (const part of parts) {
        chunks.push(deflateRawSync(part, { level, finishFlush: constants.Z_FULL_FLUSH }));
        at += part.length;
      }
      chunks.push(deflateRawSync(new Uint8Array(0), { level }));
      expect(Buffer.from(inflateRaw(Buffer.concat(chunks), at)).equals(data)).toBe(true);
    }
  });

  it('inflates into an array it is given, every byte written whatever was there, and refuses one of another size', () => {
    const data = previewLike(50_000);
    for (const level of [0, 1, 9]) {
      const packed = deflateRawSync(data, { level });
      const into = new Uint8Array(data.length).fill(0xa5);
      const out = inflateRaw(packed, data.length, into);
      expect(out).toBe(into);
      expect(Buffer.from(into).equals(Buffer.from(data))).toBe(true);
    }
    const packed = deflateRawSync(data);
    expect(() => inflateRaw(packed, data.length, new Uint8Array(data.length + 1))).toThrow(InflateError);
    expect(() => inflateRaw(packed, data.length, new Uint8Array(data.length - 1))).toThrow(/into an array of 49999/);
  });

  it('says so when the stream yields fewer or more bytes than asked for', () => {
    const data = previewLike(10_000);
    const packed = deflateRawSync(data, { level: 1 });
    expect(() => inflateRaw(packed, data.length + 1)).toThrow(/inflates to 10000 bytes, not 10001/);
    expect(() => inflateRaw(packed, data.length - 1)).toThrow(/inflates to more than 9999 bytes/);
    expect(() => inflateRaw(packed, -1)).toThrow(InflateError);
  });

  it('throws an InflateError at every truncation of a stream', () => {
    for (const level of [0, 1, 9]) {
      const data = previewLike(3000);
      const packed = deflateRawSync(data, { level });
      for (let cut = 0; cut < packed.length; cut += Math.max(1, packed.length >> 6)) {
        expect(() => inflateRaw(packed.subarray(0, cut), data.length), `level ${level}, ${cut} of ${packed.length} bytes`).toThrow(InflateError);
      }
    }
  });

  it('corrupted streams and random bytes give the right bytes or an InflateError, nothing else, and end', () => {
    const data = previewLike(5000);
    const packed = deflateRawSync(data, { level: 6 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: packed.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = Uint8Array.from(packed);
        bad[at] = bad[at]! ^ flip;
        try {
          expect(inflateRaw(bad, data.length).length).toBe(data.length);
        } catch (error) {
          expect(error).toBeInstanceOf(InflateError);
        }
      }),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.integer({ min: 0, max: 100_000 }), (bytes, size) => {
        try {
          expect(inflateRaw(bytes, size).length).toBe(size);
        } catch (error) {
          expect(error).toBeInstanceOf(InflateError);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a match that reaches before the start, a reserved block type, over-subscribed codes', () => {
    // Fixed-code block (BFINAL=1, BTYPE=01), then length code 257 (3 bytes) at distance 1 with nothing written:
    // bits LSB first: 1, 10 (type 1 as 01 read LSB-first -> bits 1,0), then 257 = 0000001 (7 bits, MSB first), distance 0 = 00000.
    expect(() => inflateRaw(Uint8Array.of(0x03, 0x02, 0x00), 3)).toThrow(/distance of 1 bytes where 0 have been written/);
    expect(() => inflateRaw(Uint8Array.of(0x07), 1)).toThrow(/reserved type 3/);
    // A final dynamic block, 257 literal/length and 1 distance codes, whose code length code gives
    // all 19 of its symbols length 1: two codes of one bit fit, nineteen do not.
    const bits: number[] = [];
    const put = (value: number, count: number) => {
      for (let b = 0; b < count; b++) bits.push((value >> b) & 1);
    };
    put(1, 1);
    put(2, 2);
    put(0, 5);
    put(0, 5);
    put(15, 4);
    for (let i = 0; i < 19; i++) put(1, 3);
    const header = new Uint8Array(Math.ceil(bits.length / 8) + 2);
    bits.forEach((bit, i) => (header[i >> 3]! |= bit << (i & 7)));
    expect(() => inflateRaw(header, 1)).toThrow(/the code length code is over-subscribed/);
  });
});
