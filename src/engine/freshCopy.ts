/**
 * A copy of `data` in memory of its own, made without zeroing it first where the runtime can
 * (Node's Buffer.allocUnsafeSlow: every byte is written by the copy before anyone sees it). A
 * new Float32Array is zero-filled before the copy fills it again: for the megabytes a run hands
 * out, that first pass costs as much as the copy (3.2 MB: 0.29 ms as `slice()`, 0.12 ms here, on
 * the 2-core machine of CONTRIBUTING's bench). Elsewhere (browsers) a plain `slice()`.
 *
 * The array owns its whole ArrayBuffer (offset 0, no pool), so it can be transferred.
 */
export function freshCopy(data: Float32Array): Float32Array {
  const out = uninitializedFloats(data.length);
  out.set(data);
  return out;
}

type AllocUnsafeSlow = (bytes: number) => { buffer: ArrayBuffer; byteOffset: number };
const allocUnsafeSlow = (globalThis as { Buffer?: { allocUnsafeSlow?: AllocUnsafeSlow } }).Buffer?.allocUnsafeSlow;

/** Small arrays gain nothing from skipping the zeroing. */
const UNZEROED_FROM_FLOATS = 4096;

/** A Float32Array of `floats` that the caller fills entirely before handing it out. */
function uninitializedFloats(floats: number): Float32Array {
  if (!allocUnsafeSlow || floats < UNZEROED_FROM_FLOATS) return new Float32Array(floats);
  const bytes = allocUnsafeSlow(floats * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, floats);
}
