/**
 * Buffers for a run's values and previews that a fork of the process does not make slow to write.
 *
 * After a process forks (to run a command), every page of its ordinary memory is shared with the
 * child, copy-on-write, and the first write to each page afterwards faults, even once the child
 * has gone: 12 MB of values written after a fork cost about 3,100 faults and 60 ms on the 2-core
 * machine of CONTRIBUTING's bench, against 1 ms without one. The extension host of a remote
 * (code-server, SSH, containers) forks every two or three seconds to look for ports to forward
 * (`ps`, `ls /proc/.../fd`), so a quarter of the playground's runs there paid it. A WebAssembly
 * memory is mapped so that a child does not share it: writing it after a fork costs nothing more.
 * Each buffer here is a shared WebAssembly memory of its own (a SharedArrayBuffer: posted to
 * another thread it is shared, not copied or transferred).
 *
 * Imports nothing; falls back to a plain array where shared WebAssembly memory is missing.
 */

const PAGE = 65536;

const pagesFor = (bytes: number) => Math.max(1, Math.ceil(bytes / PAGE));

/**
 * A buffer of at least `bytes` (whole WebAssembly pages) that stays cheap to write after a fork:
 * `spare` when it is given, else new. A plain ArrayBuffer where shared WebAssembly memory is missing.
 */
export function forkSafeBuffer(bytes: number, spare?: ArrayBufferLike): ArrayBufferLike {
  if (spare) {
    if (spare.byteLength < bytes) throw new Error(`internal: a spare buffer of ${spare.byteLength} bytes for ${bytes}`);
    return spare;
  }
  const pages = pagesFor(bytes);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    return new ArrayBuffer(bytes);
  }
}

/** The size a fork-safe buffer of at least `bytes` has (whole WebAssembly pages): the key its spares are kept by. */
export function forkSafeBytes(bytes: number): number {
  return pagesFor(bytes) * PAGE;
}

/** An array of `floats` at the start of {@link forkSafeBuffer}(floats * 4, spare). */
export function forkSafeFloats(floats: number, spare?: ArrayBufferLike): Float32Array {
  return new Float32Array(forkSafeBuffer(floats * 4, spare), 0, floats);
}
