/** The copies a run hands out: equal to the source, in a buffer of their own, whatever their size. */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { freshCopy } from '../../src/engine/freshCopy';

describe('freshCopy', () => {
  it.each([0, 1, 4095, 4096, 802_816])('%i floats: equal, independent, the whole buffer its own (transferable)', async (floats) => {
    const source = Float32Array.from({ length: floats }, (_, i) => (i % 97) - 48.5);
    const copy = freshCopy(source);
    expect(copy).toEqual(source);
    expect(copy.byteOffset).toBe(0);
    expect(copy.buffer.byteLength).toBe(floats * 4);
    if (floats) {
      source[0] = 1e9;
      expect(copy[0]).toBe(-48.5);
    }
    const { port1, port2 } = new MessageChannel();
    const arrived = new Promise<Float32Array>((resolve) => port2.once('message', resolve));
    port1.postMessage(copy, [copy.buffer as ArrayBuffer]);
    expect(copy.length).toBe(0); // moved, not cloned
    expect((await arrived).length).toBe(floats);
    port1.close();
  });

  it('a copy of a view into a larger (shared) memory holds only the view', () => {
    const memory = new Float32Array(new SharedArrayBuffer(4 * 10_000)).fill(3);
    const view = memory.subarray(1000, 9000);
    const copy = freshCopy(view);
    expect(copy.length).toBe(8000);
    expect(copy.buffer).toBeInstanceOf(ArrayBuffer);
    expect(copy.every((x) => x === 3)).toBe(true);
  });
});
