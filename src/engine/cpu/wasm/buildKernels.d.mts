/** The AssemblyScript source of the kernels. */
export const KERNELS_SOURCE: string;
/** Where the single-thread binary goes (dist/sepconvKernels.wasm). */
export const KERNELS_WASM: string;
/** Where the thread-pool binary goes (dist/sepconvKernelsShared.wasm). */
export const KERNELS_SHARED_WASM: string;
/** Pages a shared kernel memory may grow to. */
export const SHARED_MAXIMUM_PAGES: number;
/** Builds the single-thread kernels if the binary is missing or older than its source, and returns its bytes. */
export function buildKernels(options?: { force?: boolean; quiet?: boolean }): Uint8Array;
/** Builds the thread-pool kernels (shared, imported memory) likewise. */
export function buildSharedKernels(options?: { force?: boolean; quiet?: boolean }): Uint8Array;
