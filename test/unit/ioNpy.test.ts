import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NpyError, readNpy, writeNpy } from '../../src/io/npy';
import { applyByteEdits, byteEdits } from './byteEdits';
import { FIXTURE_DIR } from './fixtureLoader';

const encoder = new TextEncoder();

/** A .npy file built by hand: magic, version, header length, the header text as given, data. */
function npyBytes(header: string, data: Uint8Array = new Uint8Array(0), version: [number, number] = [1, 0]): Uint8Array {
  const text = encoder.encode(header);
  const lengthBytes = version[0] === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lengthBytes + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version[0], version[1]]);
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + text.length);
  return out;
}

const f32Bytes = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

function expectNpyError(bytes: Uint8Array, message: RegExp): void {
  expect(() => readNpy(bytes)).toThrow(NpyError);
  expect(() => readNpy(bytes)).toThrow(message);
}

describe('readNpy / writeNpy', () => {
  it('round-trips float32 tensors of every rank, bit for bit', () => {
    const special = [0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 3.4028234663852886e38, 1.401298464324817e-45];
    for (const shape of [[], [0], [9], [3, 3], [1, 3, 1, 3], [2, 0, 5]]) {
      const count = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(Array.from({ length: count }, (_, i) => special[i % special.length]!));
      const back = readNpy(writeNpy({ shape, data }));
      expect(back.shape).toEqual(shape);
      expect(back.dtype).toBe('float32');
      expect(new Uint32Array(back.data.buffer)).toEqual(new Uint32Array(data.buffer));
    }
  });

  it('writes headers that end in a newline and align the data to 64 bytes', () => {
    const bytes = writeNpy({ shape: [2, 3], data: new Float32Array(6) });
    const headerLength = bytes[8]! | (bytes[9]! << 8);
    expect((10 + headerLength) % 64).toBe(0);
    expect(bytes[10 + headerLength - 1]).toBe(0x0a);
    expect(new TextDecoder().decode(bytes.subarray(10, 10 + headerLength))).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect(new TextDecoder().decode(writeNpy({ shape: [4], data: new Float32Array(4) }).subarray(10, 80))).toContain("'shape': (4,)");
  });

  it('switches to format 2.0 when the header does not fit in 64 KiB', () => {
    const shape = Array.from({ length: 30000 }, () => 1);
    const bytes = writeNpy({ shape, data: new Float32Array([7]) });
    expect(bytes[6]).toBe(2);
    expect(readNpy(bytes)).toMatchObject({ shape, data: new Float32Array([7]) });
  });

  it('writes float16 rounded to nearest, ties to even, and reads it back as float32', () => {
    const data = new Float32Array([1, 1 / 3, -2.5, 65504, 70000, 2 ** -24, 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
    const back = readNpy(writeNpy({ shape: [data.length], data }, { dtype: 'float16' }));
    expect(back.dtype).toBe('float16');
    // 1/3 -> 0x3555 = 1365/4096; 1 + 2^-11 is a tie that goes to the even 1; 1 + 3*2^-11 goes up to 1 + 2^-9.
    expect(Array.from(back.data)).toEqual([1, 1365 / 4096, -2.5, 65504, Infinity, 2 ** -24, 0, 1, 1 + 2 ** -9]);
  });

  it('reads the files numpy wrote for the fixtures (float32 and float16)', () => {
    const output = readNpy(readFileSync(join(FIXTURE_DIR, 'conv_k1.output.npy')));
    expect(output.shape).toEqual([3, 5, 9, 11]);
    const half = readNpy(readFileSync(join(FIXTURE_DIR, 'conv_bn_half_precision_files.input.npy')));
    expect(half.dtype).toBe('float16');
    expect(half.shape).toEqual([3, 4, 9, 11]);
    // Every value came from float16, so it survives a round trip through float16 unchanged.
    const again = readNpy(writeNpy(half, { dtype: 'float16' }));
    expect(again.data).toEqual(half.data);
  });

  it('reads header variants numpy and others write: versions 2.0 and 3.0, key order, spacing, quotes', () => {
    const data = f32Bytes([1, 2, 3]);
    expect(readNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", data, [2, 0])).data).toEqual(new Float32Array([1, 2, 3]));
    expect(readNpy(npyBytes('{"shape":(3,),"fortran_order":False,"descr":"<f4"}', data, [3, 0])).shape).toEqual([3]);
    expect(readNpy(npyBytes("{ 'descr' : '<f4' ,\t'fortran_order':False,'shape':( 1 , 3 ) }   \n", data)).shape).toEqual([1, 3]);
    expect(readNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }\n", data)).shape).toEqual([3]);
    expect(readNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", f32Bytes([5]))).data).toEqual(new Float32Array([5]));
  });

  it('reads data at any alignment inside a larger buffer', () => {
    const file = writeNpy({ shape: [3], data: new Float32Array([1, 2, 3]) });
    const big = new Uint8Array(file.length + 3);
    big.set(file, 1);
    expect(readNpy(big.subarray(1, 1 + file.length)).data).toEqual(new Float32Array([1, 2, 3]));
    expect(readNpy(file.slice().buffer).data).toEqual(new Float32Array([1, 2, 3]));
  });

  describe('refuses, with a message', () => {
    const header = (fields: string) => `{${fields}}\n`;
    const ok = "'descr': '<f4', 'fortran_order': False, 'shape': (3,)";

    it('what is not a .npy file', () => {
      expectNpyError(new Uint8Array(0), /magic/);
      expectNpyError(encoder.encode('PK\x03\x04 a zip file'), /magic/);
      expectNpyError(npyBytes(header(ok), f32Bytes([1, 2, 3]), [4, 0]), /version 4\.0/);
      expectNpyError(npyBytes(header(ok), f32Bytes([1, 2, 3]), [1, 1]), /version 1\.1/);
    });

    it('truncated headers', () => {
      const file = writeNpy({ shape: [3], data: new Float32Array(3) });
      expectNpyError(file.subarray(0, 9), /magic|header length/);
      expectNpyError(file.subarray(0, 40), /header needs \d+ bytes but only 30 follow/);
      expectNpyError(npyBytes(header(ok), f32Bytes([1, 2, 3]), [2, 0]).subarray(0, 11), /header length is cut off/);
    });

    it('data that does not match the shape', () => {
      expectNpyError(npyBytes(header(ok), f32Bytes([1, 2])), /truncated .npy file: shape \[3\] needs 12 bytes of float32 data but only 8/);
      expectNpyError(npyBytes(header(ok), f32Bytes([1, 2, 3, 4])), /needs 12 bytes of float32 data but 16 follow/);
      expectNpyError(npyBytes(header("'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000)"), f32Bytes([1])), /truncated/);
      expectNpyError(npyBytes(header("'descr': '<f2', 'fortran_order': False, 'shape': (3,)"), f32Bytes([1])), /needs 6 bytes of float16 data but only 4/);
    });

    it('other dtypes, orders and byte orders', () => {
      const data = new Uint8Array(24);
      expectNpyError(npyBytes(header("'descr': '<f8', 'fortran_order': False, 'shape': (3,)"), data), /dtype '<f8'.*float32 \('<f4'\) and float16/);
      expectNpyError(npyBytes(header("'descr': '<i8', 'fortran_order': False, 'shape': (3,)"), data), /dtype '<i8'/);
      expectNpyError(npyBytes(header("'descr': '|u1', 'fortran_order': False, 'shape': (3,)"), data), /dtype '\|u1'/);
      expectNpyError(npyBytes(header("'descr': '>f4', 'fortran_order': False, 'shape': (3,)"), data), /big-endian/);
      expectNpyError(npyBytes(header("'descr': '|O', 'fortran_order': False, 'shape': (3,)"), data), /object/);
      expectNpyError(npyBytes(header("'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (3,)"), data), /structured/);
      expectNpyError(npyBytes(header("'descr': '<f4', 'fortran_order': True, 'shape': (3, 2)"), data), /Fortran-order/);
    });

    it('malformed header dicts', () => {
      const cases: Array<[string, RegExp]> = [
        ["'descr': '<f4', 'fortran_order': False", /'shape' must be a tuple/],
        ["'descr': '<f4', 'shape': (3,)", /'fortran_order' must be True or False/],
        ["'fortran_order': False, 'shape': (3,)", /'descr' must be a dtype string/],
        [`${ok}, 'extra': 1`, /unexpected key 'extra'/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': (-3,)", /non-negative integers/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': (3.5,)", /malformed .npy header/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': ('3',)", /non-negative integers/],
        ["'descr': '<f4', 'fortran_order': 0, 'shape': (3,)", /'fortran_order' must be True or False/],
        ["'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)", /appears twice/],
        ["'descr': '<f4, 'fortran_order': False, 'shape': (3,)", /malformed .npy header/],
        ["'descr': '<f4' 'fortran_order': False, 'shape': (3,)", /expected ',' or '}'/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': (3,", /malformed .npy header/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)", /too large/],
        ["'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((((((((((3,))))))))))))))))))", /nested too deeply/],
      ];
      for (const [fields, message] of cases) expectNpyError(npyBytes(header(fields), f32Bytes([1, 2, 3])), message);
      expectNpyError(npyBytes("('descr', '<f4')", f32Bytes([1, 2, 3])), /must be a Python dict/);
      expectNpyError(npyBytes(`{${ok}} trailing`, f32Bytes([1, 2, 3])), /unexpected text after the header/);
      expectNpyError(npyBytes('', f32Bytes([1, 2, 3])), /ends too early/);
    });

    it('tensors it cannot write', () => {
      expect(() => writeNpy({ shape: [2, 2], data: new Float32Array(3) })).toThrow(/shape \[2, 2\] \(4 elements\) with 3 values/);
      expect(() => writeNpy({ shape: [-1], data: new Float32Array(0) })).toThrow(NpyError);
      expect(() => writeNpy({ shape: [1], data: [1] as unknown as Float32Array })).toThrow(/Float32Array/);
      expect(() => writeNpy({ shape: [1], data: new Float32Array(1) }, { dtype: 'float64' as 'float32' })).toThrow(/float64/);
    });
  });

  describe('on corrupt files (fuzzed)', () => {
    const valid = [
      writeNpy({ shape: [2, 3, 4], data: new Float32Array(24).map((_, i) => i / 7) }),
      writeNpy({ shape: [5], data: new Float32Array([1, 2, 3, 4, 5]) }, { dtype: 'float16' }),
      npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", f32Bytes([1, 2]), [2, 0]),
    ];

    /** Either a consistent tensor or an NpyError; anything else (a TypeError, a RangeError) is a bug. */
    function readsOrRefuses(bytes: Uint8Array): void {
      try {
        const result = readNpy(bytes);
        expect(result.data.length).toBe(result.shape.reduce((a, b) => a * b, 1));
      } catch (error) {
        if (!(error instanceof NpyError)) throw error;
        expect(error.message.length).toBeGreaterThan(10);
      }
    }

    it('never throws anything but an NpyError on truncations', () => {
      for (const file of valid) for (let end = 0; end < file.length; end++) expect(() => readNpy(file.subarray(0, end))).toThrow(NpyError);
    });

    it('never throws anything but an NpyError on bit flips and byte changes', () => {
      fc.assert(
        fc.property(fc.constantFrom(...valid), byteEdits, (file, edits) => {
          // Most edits hit the 128-byte header.
          readsOrRefuses(applyByteEdits(file, edits, Math.min(file.length, 128)));
        }),
        { numRuns: 3000 },
      );
    });

    it('never throws anything but an NpyError on random header text', () => {
      const token = fc.constantFrom(
        "'descr'",
        "'<f4'",
        "'<f2'",
        "'fortran_order'",
        "'shape'",
        'False',
        'True',
        'None',
        '(',
        ')',
        '[',
        ']',
        '{',
        '}',
        ':',
        ',',
        ' ',
        '3',
        '-1',
        '0',
        "'",
        '"',
        '\n',
        '\\',
      );
      fc.assert(
        fc.property(fc.array(token, { maxLength: 40 }), fc.integer({ min: 0, max: 64 }), (tokens, dataBytes) => {
          readsOrRefuses(npyBytes(tokens.join(''), new Uint8Array(dataBytes)));
        }),
        { numRuns: 3000 },
      );
    });

    it('never throws anything but an NpyError on random bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (random, withMagic) => {
          const bytes = withMagic ? new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, ...random]) : random;
          readsOrRefuses(bytes);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
