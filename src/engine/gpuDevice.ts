/**
 * A GPUDevice for Node (the extension host, the CLI, the tests), from Dawn's Node binding, the npm
 * package `webgpu`. The engine itself never imports this: it is handed a GPUDevice.
 *
 * `webgpu` is an ES module with a native addon, so it is loaded lazily with a dynamic `import()`,
 * only when a GPU run is asked for. Before the device is trusted a tiny readback probe runs: in
 * Electron (VS Code desktop) V8 refuses the external ArrayBuffers that Dawn's `getMappedRange`
 * returns ("External buffers are not allowed"), and then the host's WebGPU is unusable; the caller
 * falls back to the webview's WebGPU or to the CPU and says why.
 */

import { describeAdapter, isSoftwareAdapter } from './softwareAdapter';

/** A usable device, or the reason there is none. */
export type HostDeviceResult =
  | { ok: true; device: GPUDevice; adapterName: string; /** A CPU emulation (see isSoftwareAdapter). */ software: boolean; timestampQuery: boolean }
  | { ok: false; reason: string };

export interface HostDeviceOptions {
  /** Milliseconds to wait for the adapter, the device and the probe's readback. Default 10 s. */
  timeoutMs?: number;
  /** For tests: a loader other than `import('webgpu')`. */
  load?: () => Promise<WebGpuModule>;
}

/** The part of the `webgpu` package's exports this module uses. */
export interface WebGpuModule {
  create(options: string[]): GPU;
  globals?: Record<string, unknown>;
}

let cached: Promise<HostDeviceResult> | undefined;
/**
 * Dawn's instance lives as long as the GPU object that `create()` returned: when that object is
 * garbage collected, the devices made from it die with a native crash. One instance serves all.
 */
let instance: GPU | undefined;

/**
 * The host's device, created on first use and reused until it is lost (then the next call creates
 * a new one). Never throws: a failure comes back as `{ ok: false, reason: "host WebGPU unusable: ..." }`.
 */
export function getHostDevice(options: HostDeviceOptions = {}): Promise<HostDeviceResult> {
  if (!cached) {
    cached = createHostDevice(options).then((result) => {
      if (!result.ok) cached = undefined; // try again next time: the reason may be transient
      return result;
    });
  }
  return cached;
}

/** Forgets the cached device (destroying it), so the next {@link getHostDevice} makes a new one. */
export async function resetHostDevice(): Promise<void> {
  const previous = cached;
  cached = undefined;
  if (!previous) return;
  const result = await previous;
  if (result.ok) result.device.destroy();
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function createHostDevice(options: HostDeviceOptions): Promise<HostDeviceResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fail = (reason: string): HostDeviceResult => ({ ok: false, reason: `host WebGPU unusable: ${reason}` });
  let module: WebGpuModule;
  try {
    module = options.load ? await options.load() : ((await import('webgpu')) as unknown as WebGpuModule);
  } catch (error) {
    return fail(`the 'webgpu' package could not be loaded (${message(error)})`);
  }
  // Node 20 has no GPUBufferUsage & co.; the engine uses numeric flags, but library users may not.
  if (module.globals) {
    for (const [name, value] of Object.entries(module.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
  }
  let device: GPUDevice;
  let adapterName: string;
  let software: boolean;
  let timestampQuery: boolean;
  try {
    const gpu = (instance ??= module.create([]));
    const adapter = await withTimeout(gpu.requestAdapter(), timeoutMs, 'requestAdapter');
    if (!adapter) return fail('no WebGPU adapter (no GPU driver, and no SwiftShader: set VK_ICD_FILENAMES)');
    const info = adapter.info as GPUAdapterInfo | undefined;
    adapterName = describeAdapter(info);
    software = isSoftwareAdapter(info);
    timestampQuery = adapter.features.has('timestamp-query');
    const requiredFeatures: GPUFeatureName[] = timestampQuery ? ['timestamp-query'] : [];
    const limits = adapter.limits;
    device = await withTimeout(
      adapter.requestDevice({
        requiredFeatures,
        // Ask for what the adapter has: big activations (224x224x64 fp32 is 12.8 MB) need more than the defaults on some.
        requiredLimits: {
          maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
          maxBufferSize: limits.maxBufferSize,
          maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        },
      }),
      timeoutMs,
      'requestDevice',
    );
  } catch (error) {
    return fail(message(error));
  }
  const probe = await probeReadback(device, timeoutMs);
  if (probe) {
    device.destroy();
    return fail(probe);
  }
  void device.lost.then(() => {
    // The next request creates a new device.
    if (cached) void cached.then((r) => { if (r.ok && r.device === device) cached = undefined; });
  });
  return { ok: true, device, adapterName, software, timestampQuery };
}

/**
 * Writes 4 floats, copies them to a mappable buffer and reads them back. Returns why that failed,
 * or undefined when it worked.
 */
export async function probeReadback(device: GPUDevice, timeoutMs = 10_000): Promise<string | undefined> {
  const values = new Float32Array([1, 2.5, -3, 4096]);
  let source: GPUBuffer | undefined;
  let staging: GPUBuffer | undefined;
  try {
    source = device.createBuffer({ size: 16, usage: 0x0008 | 0x0004 }); // COPY_DST | COPY_SRC
    staging = device.createBuffer({ size: 16, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
    device.queue.writeBuffer(source, 0, values);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(source, 0, staging, 0, 16);
    device.queue.submit([encoder.finish()]);
    await withTimeout(staging.mapAsync(0x0001), timeoutMs, 'the readback probe (mapAsync)');
    let range: ArrayBuffer;
    try {
      range = staging.getMappedRange();
    } catch (error) {
      const text = message(error);
      return /external buffers/i.test(text)
        ? `this runtime (Electron's V8) refuses Dawn's mapped buffers: ${text}`
        : `reading a mapped buffer failed: ${text}`;
    }
    const read = new Float32Array(range.slice(0));
    staging.unmap();
    if (!values.every((v, i) => read[i] === v)) return `the readback probe read [${Array.from(read).join(', ')}] instead of [${Array.from(values).join(', ')}]`;
    return undefined;
  } catch (error) {
    return `the readback probe failed: ${message(error)}`;
  } finally {
    source?.destroy();
    staging?.destroy();
  }
}
