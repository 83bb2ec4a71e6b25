import { describe, expect, it } from 'vitest';
import { makePreview } from '../../src/shared/featurePreview';
import { deflateRaw } from 'node:zlib';
import {
  compressRunResult,
  inflateMaps,
  packFeatureMaps,
  plainPackedMaps,
  unpackMaps,
  unpackRunResult,
  type CompressedRunResult,
  type PackedRunResult,
} from '../../src/shared/packedMaps';
import { SpareBuffers } from '../../src/shared/spareBuffers';

/**
 * A webview message as VS Code carries it from the extension host: JSON with every distinct
 * ArrayBuffer taken out (a typed array as its buffer, offset and length), the buffers sent beside
 * it as copies, and the views made again on the other side.
 */
function throughWebviewMessage<T>(message: T): { message: T; buffers: number } {
  const buffers: ArrayBuffer[] = [];
  const index = (buffer: ArrayBuffer) => (buffers.includes(buffer) ? buffers.indexOf(buffer) : buffers.push(buffer) - 1);
  const json = JSON.stringify(message, (_key, value: unknown) => {
    if (value instanceof ArrayBuffer) return { $ref: index(value) };
    if (value instanceof Uint8Array || value instanceof Float32Array)
      return { $ref: index(value.buffer as ArrayBuffer), kind: value instanceof Uint8Array ? 'u8' : 'f32', byteOffset: value.byteOffset, length: value.length };
    return value;
  });
  const copies = buffers.map((b) => b.slice(0));
  const revived = JSON.parse(json, (_key, value: { $ref?: number; kind?: string; byteOffset?: number; length?: number }) => {
    if (!value || typeof value !== 'object' || value.$ref === undefined) return value;
    const buffer = copies[value.$ref]!;
    if (value.kind === 'u8') return new Uint8Array(buffer, value.byteOffset, value.length);
    if (value.kind === 'f32') return new Float32Array(buffer, value.byteOffset, value.length);
    return buffer;
  }) as T;
  return { message: revived, buffers: buffers.length };
}

/** Feature maps of `count` small steps, as the host makes them (ReLU-like: half the values 0). */
function someMaps(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const channels = 1 + (i % 5);
    const shape = [1, channels, 3 + (i % 4), 2 + (i % 3)];
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, j) => Math.max(0, Math.sin(i * 31 + j)));
    const { preview, ranges, previewChannels } = makePreview(data, shape, 3);
    return {
      key: `s${i}`,
      leafKeys: [`s${i}`],
      label: 'Conv2d',
      layerIndex: i,
      role: 'standard',
      shape,
      previewChannels,
      preview: preview.buffer,
      ranges: ranges.buffer,
    };
  });
}

/** A host run's answer with these maps packed in one buffer. */
const packedAnswer = (maps: ReturnType<typeof someMaps>, runId: number): PackedRunResult => ({
  backend: 'cpu',
  device: 'test',
  runId,
  outputShape: [1, 1],
  featureMaps: packFeatureMaps(maps),
  timings: [],
  totalMs: 1,
});

const deflate = (bytes: Uint8Array) => new Promise<Uint8Array>((resolve, reject) => deflateRaw(bytes, (error, out) => (error ? reject(error) : resolve(out))));

describe("packed feature maps (a host run's answer)", () => {
  it("carry every map of a 300-step run in one buffer, and the page gets each map's preview and ranges back in buffers of its own", async () => {
    const maps = someMaps(300);
    const answer = packedAnswer(maps, 1);
    const { message, buffers } = throughWebviewMessage(answer);
    expect(buffers).toBe(1);
    const page = await unpackRunResult(message);
    expect(page.featureMaps).toHaveLength(300);
    page.featureMaps.forEach((map, i) => {
      expect(map.preview).toBeInstanceOf(ArrayBuffer);
      expect(map.ranges).toBeInstanceOf(ArrayBuffer);
      expect(new Uint8Array(map.preview)).toEqual(new Uint8Array(maps[i]!.preview));
      expect(new Float32Array(map.ranges)).toEqual(new Float32Array(maps[i]!.ranges));
      expect(map.key).toBe(`s${i}`);
    });
    // Each map's buffers are its own: the page can transfer them all to its worker.
    expect(new Set(page.featureMaps.flatMap((m) => [m.preview, m.ranges])).size).toBe(600);
  });

  it('says which map lost its preview, rather than failing later on undefined', async () => {
    const answer = {
      backend: 'cpu',
      device: 'test',
      runId: 1,
      outputShape: [1],
      featureMaps: [
        { key: 'features.3', leafKeys: [], label: '', layerIndex: 0, role: '', shape: [1, 1, 1, 1], previewChannels: 1, ranges: new Float32Array(2) },
      ],
      timings: [],
      totalMs: 0,
    } as unknown as PackedRunResult;
    await expect(unpackRunResult(answer)).rejects.toThrow("the host's answer has no preview of features.3");
  });

  it('go compressed (one deflated buffer), and inflate in the page to the same previews and ranges', async () => {
    const maps = someMaps(40);
    const answer = packedAnswer(maps, 2);
    const compressed = (await compressRunResult(answer, deflate))!;
    const { message, buffers } = throughWebviewMessage(compressed);
    expect(buffers).toBe(1);
    expect(compressed.mapsDeflated.byteLength).toBeLessThan(compressed.mapsBytes);
    // The page's own inflater (inflate.ts).
    const page = await unpackRunResult(message);
    page.featureMaps.forEach((map, i) => {
      expect(new Uint8Array(map.preview)).toEqual(new Uint8Array(maps[i]!.preview));
      expect(new Float32Array(map.ranges)).toEqual(new Float32Array(maps[i]!.ranges));
    });
    expect(page).not.toHaveProperty('mapsDeflated');
  });

  it('refuses a compressed answer whose sizes or offsets do not fit its buffer', async () => {
    const answer = packedAnswer(someMaps(3), 3);
    const compressed = (await compressRunResult(answer, deflate))!;
    await expect(unpackRunResult({ ...compressed, mapsBytes: compressed.mapsBytes + 1 })).rejects.toThrow(
      /the host's feature maps: deflate stream: inflates to \d+ bytes, not \d+/,
    );
    const moved: CompressedRunResult = {
      ...compressed,
      featureMaps: compressed.featureMaps.map((m, i) => (i === 2 ? { ...m, previewAt: compressed.mapsBytes } : m)),
    };
    await expect(unpackRunResult(moved)).rejects.toThrow("the host's answer places the preview of s2 outside its buffer");
  });

  it("unpack into an earlier answer's buffers (the page worker's way): dirty buffers of the right sizes give the same maps, and the inflating buffer is reused", async () => {
    const maps = someMaps(25);
    const answer = packedAnswer(maps, 4);
    const compressed = (await compressRunResult(answer, deflate))!;
    // The first answer: new buffers; then they are handed back dirty, with a scratch larger than needed.
    const first = unpackMaps(compressed.featureMaps, inflateMaps(compressed.mapsDeflated, compressed.mapsBytes));
    const spare = new SpareBuffers();
    for (const map of first) {
      new Uint8Array(map.preview).fill(0xee);
      new Uint8Array(map.ranges).fill(0xee);
      spare.give(map.preview);
      spare.give(map.ranges);
    }
    const scratch = new Uint8Array(compressed.mapsBytes + 100).fill(0x11);
    let fresh = 0;
    const second = unpackMaps(compressed.featureMaps, inflateMaps(compressed.mapsDeflated, compressed.mapsBytes, scratch), (bytes) => {
      const reused = spare.take(bytes);
      if (reused) return reused;
      fresh++;
      return new ArrayBuffer(bytes);
    });
    expect(fresh).toBe(0);
    expect(new Set(second.flatMap((m) => [m.preview, m.ranges])).size).toBe(50);
    second.forEach((map, i) => {
      expect(new Uint8Array(map.preview)).toEqual(new Uint8Array(maps[i]!.preview));
      expect(new Float32Array(map.ranges)).toEqual(new Float32Array(maps[i]!.ranges));
    });
    // Inflated into the scratch's first mapsBytes; its tail untouched.
    expect(scratch[compressed.mapsBytes]).toBe(0x11);
    // A source that hands out a buffer of the wrong size is a bug of the caller's, said as such.
    expect(() => unpackMaps(compressed.featureMaps, inflateMaps(compressed.mapsDeflated, compressed.mapsBytes), () => new ArrayBuffer(1))).toThrow(
      /internal: a buffer of 1 bytes/,
    );
  });

  it('compress only the bytes the views use of a longer shared buffer, and go plain when sent as they are', async () => {
    const maps = someMaps(7);
    const packed = packFeatureMaps(maps);
    const used = packed.reduce((end, m) => Math.max(end, m.preview.byteOffset + m.preview.byteLength, m.ranges.byteOffset + m.ranges.byteLength), 0);
    // The same views over whole pages of shared memory, as the engine worker makes them.
    const shared = new SharedArrayBuffer(65536);
    new Uint8Array(shared).fill(0xee);
    new Uint8Array(shared).set(new Uint8Array(packed[0]!.preview.buffer, 0, used));
    const views = packed.map((m) => ({
      ...m,
      preview: new Uint8Array(shared, m.preview.byteOffset, m.preview.byteLength),
      ranges: new Float32Array(shared, m.ranges.byteOffset, m.ranges.length),
    }));
    const answer = { ...packedAnswer(maps, 5), featureMaps: views };
    const compressed = (await compressRunResult(answer, deflate))!;
    expect(compressed.mapsBytes).toBe(used);
    const page = await unpackRunResult(compressed);
    page.featureMaps.forEach((map, i) => expect(new Uint8Array(map.preview)).toEqual(new Uint8Array(maps[i]!.preview)));
    // Sent as it is: one ArrayBuffer, the same bytes.
    const plain = plainPackedMaps(views);
    expect(new Set(plain.map((m) => m.preview.buffer)).size).toBe(1);
    expect(plain[0]!.preview.buffer).toBeInstanceOf(ArrayBuffer);
    plain.forEach((m, i) => {
      expect([...m.preview]).toEqual([...views[i]!.preview]);
      expect([...m.ranges]).toEqual([...views[i]!.ranges]);
    });
  });
});
