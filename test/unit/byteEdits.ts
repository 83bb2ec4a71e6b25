/**
 * Shared by the corrupt-file property tests of the .npy and .safetensors readers: random byte
 * edits, most of them in the header where the parsing happens.
 */
import fc from 'fast-check';

/** One to six edits: [position, byte value, whether to flip one bit of the byte instead of setting it]. */
export const byteEdits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 6 });

/** A copy of `file` with the edits applied: one in four lands anywhere, the others before `headerEnd`. */
export function applyByteEdits(file: Uint8Array, edits: ReadonlyArray<readonly [number, number, boolean]>, headerEnd: number): Uint8Array {
  const bytes = file.slice();
  for (const [position, value, flipOneBit] of edits) {
    const at = position % (position % 4 === 0 ? bytes.length : headerEnd);
    bytes[at] = flipOneBit ? bytes[at]! ^ (1 << (value % 8)) : value;
  }
  return bytes;
}
