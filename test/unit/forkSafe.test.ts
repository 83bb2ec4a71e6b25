import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { forkSafeBytes, forkSafeFloats } from '../../src/engine/forkSafe';

/** Minor page faults of this thread so far (Linux: /proc/thread-self/stat, field 10). */
function minorFaults(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** Faults taken writing every byte of `array` once. */
function faultsWriting(array: Float32Array, value: number): number {
  const before = minorFaults();
  array.fill(value);
  return minorFaults() - before;
}

describe("fork-safe arrays (the engine worker writes a run's values into them)", () => {
  it('are whole WebAssembly pages of shared memory, and reuse a spare buffer of that size', () => {
    expect(forkSafeBytes(1)).toBe(65536);
    expect(forkSafeBytes(65536)).toBe(65536);
    expect(forkSafeBytes(65537)).toBe(131072);
    const a = forkSafeFloats(20_000);
    expect(a.length).toBe(20_000);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer.byteLength).toBe(forkSafeBytes(80_000));
    a[19_999] = 7;
    const b = forkSafeFloats(20_000, a.buffer);
    expect(b.buffer).toBe(a.buffer);
    expect(b[19_999]).toBe(7);
    expect(() => forkSafeFloats(40_000, a.buffer)).toThrow(/internal: a spare buffer of 131072 bytes for 160000/);
  });

  it('cost no page faults to write after the process forks, where an ordinary array faults on every page', () => {
    const floats = (8 << 20) / 4; // 8 MB: 2,048 pages
    const safe = forkSafeFloats(floats);
    const plain = new Float32Array(floats);
    faultsWriting(safe, 1);
    faultsWriting(plain, 1);
    // A command run from this process (fork, then exec): what the extension host does to find ports to forward.
    expect(spawnSync('true').status).toBe(0);
    const plainFaults = faultsWriting(plain, 2);
    const safeFaults = faultsWriting(safe, 2);
    expect(plainFaults).toBeGreaterThan(1500);
    expect(safeFaults).toBeLessThan(50);
    expect(safe[floats - 1]).toBe(2);
  });
});
