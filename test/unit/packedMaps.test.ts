import { describe, expect, it } from 'vitest';
import { makePreview } from '../../src/shared/featurePreview';
import { packFeatureMaps, unpackRunResult, type PackedRunResult } from '../../src/shared/packedMaps';

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
    if (value instanceof Uint8Array || value instanceof Float32Array) return { $ref: index(value.buffer as ArrayBuffer), kind: value instanceof Uint8Array ? 'u8' : 'f32', byteOffset: value.byteOffset, length: value.length };
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

describe('packed feature maps (a host run\'s answer)', () => {
  it('carry every map of a 300-step run in one buffer, and the page gets each map\'s preview and ranges back in buffers of its own', () => {
    const maps = Array.from({ length: 300 }, (_, i) => {
      const channels = 1 + (i % 5);
      const shape = [1, channels, 3 + (i % 4), 2 + (i % 3)];
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, j) => Math.sin(i * 31 + j));
      const { preview, ranges, previewChannels } = makePreview(data, shape, 3);
      return { key: `s${i}`, leafKeys: [`s${i}`], label: 'Conv2d', layerIndex: i, role: 'standard', shape, previewChannels, preview, ranges };
    });
    const answer: PackedRunResult = { backend: 'cpu', device: 'test', runId: 1, outputShape: [1, 1], featureMaps: packFeatureMaps(maps), timings: [], totalMs: 1 };
    const { message, buffers } = throughWebviewMessage(answer);
    expect(buffers).toBe(1);
    const page = unpackRunResult(message);
    expect(page.featureMaps).toHaveLength(300);
    page.featureMaps.forEach((map, i) => {
      expect(map.preview).toBeInstanceOf(ArrayBuffer);
      expect(map.ranges).toBeInstanceOf(ArrayBuffer);
      expect(new Uint8Array(map.preview)).toEqual(maps[i]!.preview);
      expect(new Float32Array(map.ranges)).toEqual(maps[i]!.ranges);
      expect(map.key).toBe(`s${i}`);
    });
    // Each map's buffers are its own: the page can transfer them all to its worker.
    expect(new Set(page.featureMaps.flatMap((m) => [m.preview, m.ranges])).size).toBe(600);
  });

  it('says which map lost its preview, rather than failing later on undefined', () => {
    const answer = { backend: 'cpu', device: 'test', runId: 1, outputShape: [1], featureMaps: [{ key: 'features.3', leafKeys: [], label: '', layerIndex: 0, role: '', shape: [1, 1, 1, 1], previewChannels: 1, ranges: new Float32Array(2) }], timings: [], totalMs: 0 } as unknown as PackedRunResult;
    expect(() => unpackRunResult(answer)).toThrow("the host's answer has no preview of features.3");
  });
});
