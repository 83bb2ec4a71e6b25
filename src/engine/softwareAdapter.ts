/**
 * Whether a WebGPU adapter is a CPU emulation, decided in one place for the host's device (Dawn),
 * the page's device and the kernels' strategy choice. Imports nothing: the page may use it too.
 */

/** The adapter info fields that name an adapter (all optional: some implementations leave them empty). */
export interface AdapterWords {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}

/** "nvidia ampere ..." from the fields that are set; `fallback` when none is. */
export function describeAdapter(info: AdapterWords | undefined, fallback = 'unknown adapter'): string {
  return [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || fallback;
}

/**
 * A CPU emulation (SwiftShader, llvmpipe, lavapipe, WARP), from the adapter's words or its
 * fallback flag: correct, but slower than the CPU engine, and it wants the register kernels.
 */
export function isSoftwareAdapter(info: AdapterWords | undefined, isFallbackAdapter = false): boolean {
  return isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp|software|cpu/i.test(describeAdapter(info, ''));
}
