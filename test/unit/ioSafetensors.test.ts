import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsError, readSafetensors, readSafetensorsHeader, requireDecoded, writeSafetensors } from '../../src/io/safetensors';
import type { Tensor } from '../../src/shared/tensor';
import { applyByteEdits, byteEdits } from './byteEdits';
import { FIXTURE_DIR } from './fixtureLoader';

/** A .safetensors file built by hand from a header object (or raw header text) and data bytes. */
function file(header: object | string, data: Uint8Array | number[] = [], headerLength?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength ?? text.length, true);
  view.setUint32(4, 0, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const le = (type: 'f32' | 'u16' | 'f64' | 'i64', values: Array<number | bigint>) => {
  const size = { f32: 4, u16: 2, f64: 8, i64: 8 }[type];
  const view = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (type === 'f32') view.setFloat32(i * 4, Number(v), true);
    else if (type === 'u16') view.setUint16(i * 2, Number(v), true);
    else if (type === 'f64') view.setFloat64(i * 8, Number(v), true);
    else view.setBigInt64(i * 8, BigInt(v), true);
  });
  return Array.from(new Uint8Array(view.buffer));
};

function expectRefused(bytes: Uint8Array, message: RegExp, tensorName?: string): void {
  let caught: unknown;
  try {
    readSafetensors(bytes);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect((caught as SafetensorsError).message).toMatch(message);
  if (tensorName !== undefined) {
    expect((caught as SafetensorsError).tensorName).toBe(tensorName);
    expect((caught as SafetensorsError).message).toContain(JSON.stringify(tensorName));
  }
}

describe('readSafetensors / writeSafetensors', () => {
  const tensors: Record<string, Tensor> = {
    'features.0.weight': { shape: [2, 1, 3, 3], data: new Float32Array(18).map((_, i) => i - 8.5) },
    'features.0.bias': { shape: [2], data: new Float32Array([NaN, -Infinity]) },
    scalar: { shape: [], data: new Float32Array([-0]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    'π.unicode name': { shape: [1], data: new Float32Array([3.25]) },
  };
  // A tensor named "__proto__" must stay a tensor on both sides.
  Object.defineProperty(tensors, '__proto__', { value: { shape: [1], data: new Float32Array([42]) }, enumerable: true });

  it('round-trips F32 tensors and metadata, bit for bit', () => {
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
    const back = readSafetensors(bytes);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(back.tensors[name]!.shape).toEqual(tensor.shape);
      expect(new Uint32Array(back.tensors[name]!.data.buffer)).toEqual(new Uint32Array(tensor.data.slice().buffer));
    }
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype);
    expect(back.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(back.skipped).toEqual([]);
  });

  it('writes deterministic files with the data 8-byte aligned and no metadata unless asked', () => {
    const bytes = writeSafetensors(tensors);
    expect(writeSafetensors({ ...tensors })).toEqual(bytes);
    const header = readSafetensorsHeader(bytes);
    expect(header.dataOffset % 8).toBe(0);
    expect(header.metadata).toEqual({});
    expect(new TextDecoder().decode(bytes.subarray(8, header.dataOffset))).not.toContain('__metadata__');
  });

  it('reads the state_dicts the fixture script wrote, skipping int64 num_batches_tracked', () => {
    const result = readSafetensors(readFileSync(join(FIXTURE_DIR, 'conv_bn_relu.weights.safetensors')));
    expect(Object.keys(result.tensors).sort()).toEqual(['0.weight', '1.bias', '1.running_mean', '1.running_var', '1.weight']);
    expect(result.tensors['0.weight']!.shape).toEqual([6, 4, 3, 3]);
    expect(result.skipped).toEqual([{ name: '1.num_batches_tracked', dtype: 'I64', shape: [] }]);
    expect(result.metadata).toEqual({ format: 'pt' });
  });

  it('decodes F16, BF16 and F64 and lists other dtypes without decoding them', () => {
    const data = [...le('u16', [0x3c00, 0xc100, 0x0001]), ...le('u16', [0x3f80, 0x4049]), ...le('f64', [0.1, -1e300]), ...le('i64', [7n]), 1, 0];
    const bytes = file(
      {
        h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
        d: { dtype: 'F64', shape: [2, 1], data_offsets: [10, 26] },
        n: { dtype: 'I64', shape: [], data_offsets: [26, 34] },
        flags: { dtype: 'BOOL', shape: [2], data_offsets: [34, 36] },
      },
      data,
    );
    const result = readSafetensors(bytes);
    expect(Array.from(result.tensors.h!.data)).toEqual([1, -2.5, 2 ** -24]);
    expect(Array.from(result.tensors.b!.data)).toEqual([1, 3.140625]);
    expect(Array.from(result.tensors.d!.data)).toEqual([Math.fround(0.1), -Infinity]);
    expect(result.tensors.d!.shape).toEqual([2, 1]);
    expect(result.skipped).toEqual([
      { name: 'n', dtype: 'I64', shape: [] },
      { name: 'flags', dtype: 'BOOL', shape: [2] },
    ]);
  });

  it('requireDecoded names a needed tensor of an undecoded dtype and lets unneeded ones pass', () => {
    const bytes = file({ w: { dtype: 'I32', shape: [1], data_offsets: [0, 4] }, n: { dtype: 'I64', shape: [], data_offsets: [4, 12] } }, new Uint8Array(12));
    const result = readSafetensors(bytes);
    expect(() => requireDecoded(result, ['n.other'])).not.toThrow();
    expect(() => requireDecoded(result, ['w'])).toThrow(new SafetensorsError('is stored as I32; weights must be F32, F16, BF16, F64', 'w'));
  });

  it('accepts a header padded with spaces and tensors stored in any order', () => {
    const header = JSON.stringify({ b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }) + '   ';
    const result = readSafetensors(file(header, le('f32', [1, 2])));
    expect(result.tensors.a!.data[0]).toBe(1);
    expect(result.tensors.b!.data[0]).toBe(2);
  });

  it('reads from an ArrayBuffer and from a view at an odd offset', () => {
    const bytes = writeSafetensors({ x: { shape: [2], data: new Float32Array([5, 6]) } });
    expect(readSafetensors(bytes.slice().buffer).tensors.x!.data).toEqual(new Float32Array([5, 6]));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(readSafetensors(shifted.subarray(1)).tensors.x!.data).toEqual(new Float32Array([5, 6]));
  });

  describe('refuses, with a message naming the tensor', () => {
    const f32 = (offsets: [number, number], shape: number[] = [1]) => ({ dtype: 'F32', shape, data_offsets: offsets });

    it('overlapping data', () => {
      expectRefused(file({ a: f32([0, 8], [2]), b: f32([4, 8]) }, le('f32', [1, 2])), /overlap those of "a"/, 'b');
      expectRefused(file({ a: f32([0, 4]), b: f32([0, 4]) }, le('f32', [1])), /overlap/);
    });

    it('offsets out of range', () => {
      expectRefused(file({ w: f32([0, 8], [2]) }, le('f32', [1])), /run past the end of the data \(4 bytes\)/, 'w');
      expectRefused(file({ w: f32([4, 8]) }, le('f32', [1])), /run past the end/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, le('f32', [1, 2])), /end before they begin/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] } }, le('f32', [1])), /data_offsets must be|run past/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, le('f32', [1])), /data_offsets must be/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, le('f32', [1])), /data_offsets must be \[begin, end\]/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [1] } }, le('f32', [1])), /data_offsets must be/, 'w');
    });

    it('a byte count that disagrees with the shape and dtype', () => {
      expectRefused(file({ w: f32([0, 8], [3]) }, le('f32', [1, 2])), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/, 'w');
      expectRefused(file({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, le('f32', [1, 2])), /needs 6 bytes/, 'w');
      expectRefused(file({ w: { dtype: 'I64', shape: [2], data_offsets: [0, 8] } }, le('f32', [1, 2])), /needs 16 bytes/, 'w');
      expectRefused(file({ w: f32([0, 4], [1e6, 1e6, 1e6]) }, le('f32', [1])), /needs \d+ bytes/, 'w');
    });

    it('a tensor name given twice (JSON.parse would keep only the last)', () => {
      const twice = `{"a": ${JSON.stringify(f32([0, 4]))}, "b": ${JSON.stringify(f32([4, 8]))}, "a": ${JSON.stringify(f32([4, 8]))}}`;
      expectRefused(file(twice, le('f32', [1, 2])), /duplicate tensor name "a"/);
      // Escapes that spell the same name, and names that hold quotes, braces and colons.
      const escaped = `{"w\\"{:": ${JSON.stringify(f32([0, 4]))}, "\\u0077\\"{:" : ${JSON.stringify(f32([4, 8]))}}`;
      expectRefused(file(escaped, le('f32', [1, 2])), /duplicate tensor name "w\\"\{:"/);
      const meta = `{"__metadata__": {"a": "x", "a": "y"}, "a": ${JSON.stringify(f32([0, 4]))}}`;
      expect(readSafetensors(file(meta, le('f32', [1]))).tensors.a!.data).toEqual(new Float32Array([1]));
    });

    it('holes and bytes that belong to no tensor', () => {
      expectRefused(file({ a: f32([0, 4]), b: f32([8, 12]) }, le('f32', [1, 2, 3])), /leaving a hole after "a"/, 'b');
      expectRefused(file({ a: f32([4, 8]) }, le('f32', [1, 2])), /leaving a hole after the header/, 'a');
      expectRefused(file({ a: f32([0, 4]) }, le('f32', [1, 2])), /4 bytes after the last tensor belong to none/);
    });

    it('bad dtypes and shapes', () => {
      expectRefused(file({ w: { dtype: 'F128', shape: [1], data_offsets: [0, 4] } }, le('f32', [1])), /unknown dtype "F128"/, 'w');
      expectRefused(file({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, le('f32', [1])), /dtype must be a string/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, le('f32', [1])), /shape must be a list of non-negative integers/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: [0.5, 2], data_offsets: [0, 4] } }, le('f32', [1])), /shape must be/, 'w');
      expectRefused(file({ w: { dtype: 'F32', shape: '1', data_offsets: [0, 4] } }, le('f32', [1])), /shape must be/, 'w');
      expectRefused(file({ w: [1, 2] }, le('f32', [1])), /header entry must be an object/, 'w');
    });

    it('bad headers', () => {
      expectRefused(new Uint8Array(0), /fewer than the 8-byte header length/);
      expectRefused(new Uint8Array(7), /fewer than the 8-byte/);
      expectRefused(file({ a: f32([0, 4]) }, le('f32', [1]), 1000), /header needs 1000 bytes but only \d+ follow/);
      const huge = file('{}');
      new DataView(huge.buffer).setUint32(4, 1, true); // 2^32 + 2 bytes
      expectRefused(huge, /over the limit/);
      expectRefused(file('{"a": '), /not a UTF-8 JSON object/);
      expectRefused(file('[1, 2]'), /not a UTF-8 JSON object/);
      expectRefused(file('null'), /not a UTF-8 JSON object/);
      expectRefused(file(' {}'), /not a UTF-8 JSON object/);
      const invalidUtf8 = file('{"\u00ff": 1}');
      invalidUtf8[10] = 0xff; // a lone continuation byte
      expectRefused(invalidUtf8, /UTF-8/);
      expectRefused(file({ __metadata__: { a: 1 } }), /__metadata__\["a"\] must be a string/);
      expectRefused(file({ __metadata__: 'x' }), /__metadata__ must be an object/);
    });

    it('tensors it cannot write', () => {
      expect(() => writeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
        /tensor "w": cannot write: shape \[2, 2\] has 4 elements but the data has 3/,
      );
      expect(() => writeSafetensors({ w: { shape: [1.5], data: new Float32Array(1) } })).toThrow(SafetensorsError);
      expect(() => writeSafetensors({ w: { shape: [1], data: new Float64Array(1) as unknown as Float32Array } })).toThrow(/Float32Array/);
      expect(() => writeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } })).toThrow(/reserves/);
      expect(() => writeSafetensors({}, { n: 1 as unknown as string })).toThrow(/values must be strings/);
    });
  });

  describe('on corrupt files (fuzzed)', () => {
    const valid = [
      writeSafetensors(tensors, { format: 'pt' }),
      readFileSync(join(FIXTURE_DIR, 'conv_bn_half_precision_files.weights.safetensors')),
      file({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, n: { dtype: 'I64', shape: [1], data_offsets: [4, 12] } }, [
        ...le('u16', [1, 2]),
        ...le('i64', [3n]),
      ]),
    ].map((b) => new Uint8Array(b));

    /** Either consistent tensors or a SafetensorsError; anything else (TypeError, RangeError) is a bug. */
    function readsOrRefuses(bytes: Uint8Array): void {
      try {
        const result = readSafetensors(bytes);
        for (const tensor of Object.values(result.tensors)) expect(tensor.data.length).toBe(tensor.shape.reduce((a, b) => a * b, 1));
      } catch (error) {
        if (!(error instanceof SafetensorsError)) throw error;
        expect(error.message.length).toBeGreaterThan(10);
      }
    }

    it('refuses every truncation', () => {
      for (const bytes of valid) {
        for (let end = 0; end < bytes.length; end += end < 600 ? 1 : 97) expect(() => readSafetensors(bytes.subarray(0, end))).toThrow(SafetensorsError);
      }
    });

    it('never throws anything but a SafetensorsError on bit flips and byte changes', () => {
      fc.assert(
        fc.property(fc.constantFrom(...valid), byteEdits, (original, edits) => {
          // Most edits hit the length and the JSON, where the checks are.
          const headerEnd = Math.min(original.length, 8 + new DataView(original.buffer, original.byteOffset).getUint32(0, true));
          readsOrRefuses(applyByteEdits(original, edits, headerEnd));
        }),
        { numRuns: 3000 },
      );
    });

    it('never throws anything but a SafetensorsError on random, well-formed JSON headers', () => {
      const entry = fc.record(
        {
          dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'X'), fc.integer()),
          shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), fc.constant(null)),
          data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -2, max: 70 }), fc.integer({ min: -2, max: 70 })), fc.array(fc.nat(70), { maxLength: 3 })),
        },
        { requiredKeys: [] },
      );
      fc.assert(
        fc.property(
          fc.dictionary(fc.constantFrom('a', 'b', 'c', '__metadata__', '__proto__', 'constructor'), entry, { maxKeys: 4 }),
          fc.integer({ min: 0, max: 64 }),
          (header, dataBytes) => {
            readsOrRefuses(file(header, new Uint8Array(dataBytes)));
          },
        ),
        { numRuns: 3000 },
      );
    });

    it('never throws anything but a SafetensorsError on random bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 120 }), (random, headerLength) => {
          const bytes = new Uint8Array(8 + random.length);
          new DataView(bytes.buffer).setUint32(0, headerLength, true);
          bytes.set(random, 8);
          readsOrRefuses(bytes);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
