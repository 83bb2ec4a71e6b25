/**
 * Reuses GPU buffers between and within forward passes. Sizes are rounded up to a power of two
 * (at least 256 bytes) so that buffers of nearby sizes serve each other; a pass releases what it
 * took when it ends, and the pool keeps at most `maxIdleBytes` of idle buffers.
 */

const MIN_BYTES = 256;

export class BufferPool {
  private readonly idle = new Map<string, GPUBuffer[]>();
  private idleBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxIdleBytes = 512 * 1024 * 1024,
  ) {}

  static bucket(bytes: number): number {
    return Math.max(MIN_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));
  }

  acquire(bytes: number, usage: number, label?: string): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    const key = `${size}:${usage}`;
    const list = this.idle.get(key);
    const reused = list?.pop();
    if (reused) {
      this.idleBytes -= size;
      return reused;
    }
    return this.device.createBuffer({ size, usage, label });
  }

  release(buffer: GPUBuffer): void {
    const key = `${buffer.size}:${buffer.usage}`;
    if (this.idleBytes + buffer.size > this.maxIdleBytes) {
      buffer.destroy();
      return;
    }
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    list.push(buffer);
    this.idleBytes += buffer.size;
  }

  /** Destroys every idle buffer. */
  clear(): void {
    for (const list of this.idle.values()) for (const b of list) b.destroy();
    this.idle.clear();
    this.idleBytes = 0;
  }

  get idleByteCount(): number {
    return this.idleBytes;
  }
}

const pools = new WeakMap<GPUDevice, BufferPool>();

/** The device's pool (one per device; dropped with the device). */
export function bufferPoolFor(device: GPUDevice): BufferPool {
  let pool = pools.get(device);
  if (!pool) pools.set(device, (pool = new BufferPool(device)));
  return pool;
}
