/**
 * Buffers handed back to be written again, taken by exact size: a drawn picture's pixels (the
 * page's worker paints the next ones there), a run's values and previews (the host's engine
 * worker writes the next run's there). The first writes to new memory cost more than the work
 * itself on some machines (3.6 MB of RGBA: 22 ms new, 2 ms reused, on the 2-core machine of
 * CONTRIBUTING's bench).
 *
 * Imports nothing: the page, its worker and the engine's worker use it alike.
 */
export class SpareBuffers<B extends ArrayBufferLike = ArrayBuffer> {
  private readonly buffers: B[] = [];

  /** Keeps `buffer` for a later take (with a `limit`, at most that many are kept, the latest). */
  give(buffer: B, limit = Infinity): void {
    if (buffer.byteLength === 0) return; // detached
    this.buffers.push(buffer);
    if (this.buffers.length > limit) this.buffers.shift();
  }

  /** A kept buffer of exactly `bytes`, removed from the kept ones; undefined when none has that size. */
  take(bytes: number): B | undefined {
    const at = this.buffers.findIndex((b) => b.byteLength === bytes);
    return at < 0 ? undefined : this.buffers.splice(at, 1)[0];
  }

  /** Every kept buffer, removed (to transfer them elsewhere). */
  takeAll(): B[] {
    return this.buffers.splice(0);
  }
}
